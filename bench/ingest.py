"""Benchmark: CEUS ingest vs decoding every frame with plain pydicom, on one realistic synthetic study.

    .venv/bin/python bench/ingest.py [--seed 1] [--keep DIR]

Generates one ``--realistic`` CEUS patient (``hccrisk.synth``: full-size frames at 10-25 fps, vendor
chosen by the seed), then in one run times (1) ``ds.pixel_array`` of every clip (what a naive
reader pays: every stored frame decoded) and (2) ``hccrisk ingest`` of the same folder (scan, select,
decode only the frames the 2 fps timeline needs, write ceus.npz/json), and prints the ratio.
Target: ingest <= 0.3x the plain decode.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="cohort seed (picks the vendor profile)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()

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
