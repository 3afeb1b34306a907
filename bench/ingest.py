"""Benchmarks: CEUS ingest vs decoding every frame with plain pydicom, on one realistic synthetic study;
with ``--mri N``, the MRI ingest's CPU per patient and registration accuracy on N synthetic patients.

    .venv/bin/python bench/ingest.py [--seed 1] [--keep DIR]
    .venv/bin/python bench/ingest.py --mri 5 [--keep DIR]

Generates one ``--realistic`` CEUS patient (``hccrisk.synth``: full-size frames at 10-25 fps, vendor
chosen by the seed), then in one run times (1) ``ds.pixel_array`` of every clip (what a naive
reader pays: every stored frame decoded) and (2) ``hccrisk ingest`` of the same folder (scan, select,
decode only the frames the 2 fps timeline needs, write ceus.npz/json), and prints the ratio.
Target: ingest <= 0.3x the plain decode.

``--mri N``: N default-size synthetic MRI studies (``draw_latents(N, seed=7)``, planted breath-hold motion),
each ingested in this process with SimpleITK on one thread; prints the CPU per patient, the mean
displacement error of each registered phase against the planted motion (80 mm lattice around the liver
centre) and the Dice of every phase's tumour mask mapped to the ingested grid against AP's
(docs/ingest.md, "Speed of the MRI ingest").
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pydicom


def plain_decode_s(files: list[Path]) -> tuple[float, int]:
    """Seconds to decode every frame of every file with ``ds.pixel_array``, and the frame count."""
    start, frames = time.perf_counter(), 0
    for path in files:
        ds = pydicom.dcmread(path)
        frames += ds.pixel_array.shape[0]
    return time.perf_counter() - start, frames


def mri_bench(work: Path, n_patients: int) -> None:
    """CPU per patient, registration error and mask Dice of ingest_mri on n synthetic patients."""
    import numpy as np
    import SimpleITK as sitk

    from hccrisk.preprocess.mri import ingest_mri, resample_mask_to_ingested
    from hccrisk.synth.latent import draw_latents
    from hccrisk.synth.mri import write_mri_study
    from hccrisk.synth.mri_geometry import RigidMotion

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    lattice = np.stack(np.meshgrid(*[[-40.0, 0.0, 40.0]] * 3), -1).reshape(-1, 3)
    cpu, errors, dice = [], {"PVP": [], "DP": [], "T2": []}, []
    for i, patient in enumerate(draw_latents(n_patients, seed=7)):
        study = write_mri_study(patient, work / f"p{i}" / "dicom", work / f"p{i}" / "rois", "default",
                                patient.rng("mri"))
        files = {ph: [Path(f) for f in study["series"][ph]["files"]] for ph in ("T2", "AP", "PVP", "DP")}
        out = work / f"p{i}" / "ingest"
        start = time.process_time()
        ingest_mri(files, out)
        cpu.append(time.process_time() - start)
        for phase, errs in errors.items():
            m = study["motion"][phase]
            truth = RigidMotion(tuple(np.deg2rad(m["rotation_deg"])), tuple(m["translation_mm"]),
                                tuple(m["centre_mm"])).transform()
            saved = sitk.ReadTransform(str(out / "mri" / "transforms" / f"{phase}_to_AP.tfm"))
            points = [(np.asarray(m["centre_mm"]) + d).tolist() for d in lattice]
            errs.append(np.mean([np.linalg.norm(np.subtract(saved.TransformPoint(q), truth.TransformPoint(q)))
                                 for q in points]))
        rois = study["rois"]
        ap = sitk.GetArrayFromImage(resample_mask_to_ingested(rois["AP"]["tumour"], "AP", out)) == 1
        for phase in ("T2", "PVP", "DP"):
            mapped = sitk.GetArrayFromImage(resample_mask_to_ingested(rois[phase]["tumour"], phase, out)) == 1
            dice.append(2 * (mapped & ap).sum() / (mapped.sum() + ap.sum()))
    print(f"MRI ingest, {n_patients} default-size synthetic patients, 1 thread: "
          f"{np.mean(cpu):.2f} s CPU per patient (min {np.min(cpu):.2f}, max {np.max(cpu):.2f})")
    for phase, errs in errors.items():
        print(f"  {phase:3s} registration error: mean {np.mean(errs):.2f} mm, worst patient {np.max(errs):.2f} mm")
    print(f"  tumour mask Dice vs AP: min {np.min(dice):.3f}, mean {np.mean(dice):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="cohort seed (picks the vendor profile)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    parser.add_argument("--mri", type=int, metavar="N", help="benchmark the MRI ingest on N synthetic patients")
    args = parser.parse_args()
    if args.mri:
        work = args.keep or Path(tempfile.mkdtemp(prefix="hccrisk_bench_mri_"))
        try:
            mri_bench(work, args.mri)
        finally:
            if args.keep is None:
                shutil.rmtree(work, ignore_errors=True)
        return

    from hccrisk.dicom.scan import scan
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.synth.cohort import generate_cohort

    work = args.keep or Path(tempfile.mkdtemp(prefix="hccrisk_bench_"))
    try:
        cohort = work / "cohort"
        if not (cohort / "dicom").exists():
            generate_cohort(cohort, n_patients=1, seed=args.seed, modality="ceus", size="realistic",
                            workers=1, progress=False)
        files = [i.path for i in scan(cohort / "dicom").instances]
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        print(f"study: {len(files)} clips, {size_mb:.0f} MiB, {ds.Manufacturer}, {ds.Rows}x{ds.Columns} "
              f"{ds.PhotometricInterpretation}, {ds.file_meta.TransferSyntaxUID.name}")
        plain_s, frames = plain_decode_s(files)
        print(f"plain pydicom, every frame: {plain_s:7.2f} s ({frames} frames)")
        start = time.perf_counter()
        result = ingest(cohort / "dicom", work / "ingest", workers=1, force=True, progress=False)
        ingest_s = time.perf_counter() - start
        assert result.n_done == 1, f"ingest failed: see {result.problems_path}"
        meta = json.loads(next((work / "ingest").glob("*/ceus.json")).read_text())
        decoded = sum(c["frames_decoded"] for c in meta["clips"])
        print(f"hccrisk ingest:             {ingest_s:7.2f} s ({decoded} frames decoded for "
              f"{meta['n_valid']} valid samples at 2 fps)")
        print(f"ratio ingest / plain:       {ingest_s / plain_s:7.3f} (target <= 0.3)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
