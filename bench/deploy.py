"""Benchmark: the MONAI Deploy app on one realistic synthetic CEUS study, against the ingest of that study.

    deploy/run.sh bench/deploy.py [--seed 1] [--bundle bundles/ceus_mp] [--one-box] [--keep DIR] [--gpu-case DIR]
    python3 bench/deploy.py gpu DIR [--device cuda] [--repeats 20]        (on a GPU machine, no SDK needed)

The first form (in the deploy venv) generates one ``--realistic`` CEUS patient (full-size frames at
10-25 fps, ``hccrisk.synth``) and makes its study folder (``deploy.demo``): the clips, clinical.csv and the
ROI as the MONAI Label app stores it, a box SR with the margined tumour box on EVERY stored frame
(``--one-box``: one box on one frame instead, which the app tracks). Then, in one run:

1. full decode: ``pixel_array`` of every stored frame (what any reader of the study pays at most);
2. start-up alone: a new process that only imports what each side imports (``hccrisk`` CLI; the app);
3. cold, process against process: ``hccrisk ingest STUDY --out X`` as a new process against
   ``deploy/run.sh -m deploy -i STUDY -o OUT`` as a new process (study -> SR + SCs), wall time, CPU time
   (user + sys of the process and its children) and the app's peak RSS (target < 2 GiB);
4. warm, call against call in this process (imports done, second call): ``hccrisk.ingest.pipeline.ingest``
   against ``deploy.app.run_study`` (what the service does per study).

The issue's target, app <= 1.5 x "the ingest of the same study", is printed for both pairings (3 and 4);
everything the app does for a study (scan, timeline, reading the SR, ROI, network, Grad-CAM, SR and SC
writing, and in 3 the process start-up) is inside the timed region. The ingest of the same study also
reads the box SR (``hccrisk ingest`` stores the readings it finds in rois/observer1/).

Without a trained model in ``--bundle`` an untrained seed-0 CEUS-MP network stands in (the timing does not
depend on the weights). ``--gpu-case DIR`` also writes what the second form needs (the 2 fps timeline,
the tracked boxes, header-only copies of the source files, the bundle), so the per-study work after the
timeline (ROI on the CPU, then model + Grad-CAM on the device, nomogram, SR and SC writing) can
be timed on a GPU machine that has torch but neither the SDK nor holoscan.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def plain_decode_s(files: list[Path]) -> tuple[float, int]:
    """Seconds to decode every frame of every file with ``ds.pixel_array``, and the frame count."""
    import pydicom

    start, frames = time.perf_counter(), 0
    for path in files:
        ds = pydicom.dcmread(path)
        if "PixelData" in ds:
            frames += int(getattr(ds, "NumberOfFrames", 1))
            ds.pixel_array  # noqa: B018 - the decode is what is timed
    return time.perf_counter() - start, frames


def stand_in_bundle(folder: Path) -> Path:
    """bundles/ceus_mp's configs with an UNTRAINED seed-0 network (timing only)."""
    import torch

    from hccrisk.nets.ceus import build_ceus_net
    from hccrisk.nets.cohort import export_torchscript

    shutil.copytree(REPO / "bundles" / "ceus_mp" / "configs", folder / "configs")
    (folder / "models").mkdir(parents=True)
    torch.manual_seed(0)
    net = build_ceus_net("ceus_mp")
    torch.save(net.state_dict(), folder / "models" / "model.pt")
    export_torchscript(net, folder / "models" / "model.ts", (4, 3, 8, 64, 64))
    return folder


def run_process(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, int]:
    """(wall s, CPU s = user + sys, peak RSS GiB, exit code) of a new process (output discarded)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    # ru_maxrss in KiB on Linux; wait4 gives the process's own usage (run.sh execs python: same process)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status)


def timed(call) -> tuple[float, float]:
    """(wall s, CPU s of this process) of ``call()``."""
    start, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - start, time.process_time() - cpu


def export_gpu_case(study: Path, bundle: Path, folder: Path) -> None:
    """The inputs of the GPU part: timeline (compressed), boxes, header-only source files, bundle."""
    import numpy as np
    import pydicom

    from hccrisk.preprocess.ceus import ingest_ceus
    from hccrisk.roi.cine import load_cine
    from hccrisk.roi.sr import read_box_sr_with_margin
    from operators.roi_core import roi_from_sr

    clips = sorted(p for p in study.glob("*.dcm") if p.name != "roi_sr.dcm")
    ingest_ceus(clips, folder / "ceus")
    with np.load(folder / "ceus" / "ceus.npz", allow_pickle=False) as z:  # zeros in the gaps compress well
        arrays = dict(z)
    np.savez_compressed(folder / "ceus" / "ceus.npz", **arrays)
    cine = load_cine(folder / "ceus")
    boxes = roi_from_sr(cine, *read_box_sr_with_margin(study / "roi_sr.dcm"), study / "roi_sr.dcm").track.expanded(5.0)
    np.save(folder / "boxes.npy", boxes.astype(float))
    (folder / "sources").mkdir()
    for path in [*clips, study / "roi_sr.dcm"]:  # headers only: the writers copy attributes, not pixels
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        ds.save_as(folder / "sources" / path.name, enforce_file_format=True)
    shutil.copytree(bundle, folder / "bundle", ignore=shutil.ignore_patterns("training", "*.csv", "eval"),
                    ignore_dangling_symlinks=True)
    shutil.copy(study / "clinical.csv", folder / "clinical.csv")


def gpu_part(case: Path, device: str, repeats: int) -> None:
    """Time the model + Grad-CAM + nomogram + SR/SC writing per study, after warm-up, on ``device``."""
    import numpy as np
    import torch

    from hccrisk.models.nomogram_file import read_nomogram_file
    from hccrisk.results.clinical import read_clinical
    from hccrisk.results.sc import write_heatmap_sc
    from hccrisk.results.sr import RiskResult, write_risk_sr
    from hccrisk.roi.cine import load_cine
    from operators.inference_core import bundle_inputs, imaging_signature, key_frame_heatmaps

    bundle, out = case / "bundle", Path(tempfile.mkdtemp(prefix="hccrisk-gpu-"))
    patient_dir = out / "ceus"  # uncompressed, as the app's scratch timeline (the carried copy is compressed)
    shutil.copytree(case / "ceus", patient_dir)
    with np.load(patient_dir / "ceus.npz", allow_pickle=False) as z:
        arrays = dict(z)
    np.savez(patient_dir / "ceus.npz", **arrays)
    boxes = np.load(case / "boxes.npy")
    phases, version = bundle_inputs(bundle)
    cine = load_cine(patient_dir)
    import pydicom

    sources = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
               for p in (case / "sources").glob("*.dcm") if p.name != "roi_sr.dcm"}
    patient = str(pydicom.dcmread(case / "sources" / "roi_sr.dcm", stop_before_pixels=True).PatientID)
    clinical, missing = read_clinical(case, patient)
    nomogram = read_nomogram_file(bundle / "nomogram.json") if (bundle / "nomogram.json").is_file() else None

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    from hccrisk.roi.sr import read_box_sr_with_margin
    from operators.roi_core import roi_from_sr

    roi_sr = case / "sources" / "roi_sr.dcm"

    try:  # a TorchScript file from a newer torch may not load in an older one: re-export from model.pt then
        torch.jit.load(str(bundle / "models" / "model.ts"), map_location=device)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError subclasses of several kinds
        from hccrisk.nets.cohort import export_torchscript
        from operators.inference_core import load_eager

        copy = out / "bundle"
        shutil.copytree(bundle, copy)
        net = load_eager(str(copy / "models" / "model.pt"), 0, len(phases), "cpu")
        export_torchscript(net, copy / "models" / "model.ts", (4, len(phases), 8, 64, 64))
        bundle = copy
        print(f"note: model.ts did not load in torch {torch.__version__} ({type(exc).__name__}); re-exported from "
              f"model.pt with this torch")
    same_boxes = []

    def one_study() -> dict[str, float]:
        t = {}
        start = time.perf_counter()
        roi = roi_from_sr(load_cine(patient_dir), *read_box_sr_with_margin(roi_sr), roi_sr)
        tracked = roi.track.expanded(5.0).astype(float)
        same_boxes.append(bool(np.array_equal(tracked, boxes)))  # the same boxes as the app's (this numpy/scipy)
        t["SR read + ROI (CPU)"] = time.perf_counter() - start
        mark = time.perf_counter()
        signature, x = imaging_signature(bundle, patient_dir, boxes, phases, device)
        sync()
        t["samples + model"] = time.perf_counter() - mark
        mark = time.perf_counter()
        heatmaps = key_frame_heatmaps(bundle, patient_dir, x, phases, device)
        sync()
        t["Grad-CAM"] = time.perf_counter() - mark
        mark = time.perf_counter()
        risk = nomogram.risk(signature, clinical)[0] if nomogram else None
        result = RiskResult("ceus_mp", version, signature, risk=risk, cutoff=nomogram.cutoff if nomogram else 0.5,
                            clinical=clinical, missing=missing)
        write_risk_sr(result, list(sources.values()), out / "sr.dcm", roi_file=case / "sources" / "roi_sr.dcm")
        for n, item in enumerate(heatmaps, start=1):
            i = item["sample"]
            image = np.kron(item["image"], np.ones((4, 4)))
            heat = np.kron(item["heatmap"], np.ones((4, 4)))
            write_heatmap_sc(image, heat, sources[str(cine.source_sop[i])], out / f"sc{n}.dcm", model_name="ceus_mp",
                             model_version=version, frame=int(cine.source_frame[i]), instance_number=n)
        t["nomogram + SR + 3 SC"] = time.perf_counter() - mark
        t["total"] = time.perf_counter() - start
        return t

    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    for _ in range(3):  # warm-up: CUDA context, cuDNN autotuning, model loading, imports inside the writers
        one_study()
    runs = [one_study() for _ in range(repeats)]
    print(f"device {device} ({name}), torch {torch.__version__}; per study after 3 warm-up studies, median of "
          f"{repeats} (min-max); tracked boxes equal to the app's: {all(same_boxes)}:")
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"  {key:22s} {statistics.median(values) * 1000:8.1f} ms   ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})")
    shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "gpu":
        parser = argparse.ArgumentParser(prog="bench/deploy.py gpu")
        parser.add_argument("case", type=Path)
        parser.add_argument("--device", default="cuda")
        parser.add_argument("--repeats", type=int, default=20)
        args = parser.parse_args(sys.argv[2:])
        gpu_part(args.case, args.device, args.repeats)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="cohort seed (picks the vendor profile)")
    parser.add_argument("--bundle", type=Path, default=REPO / "bundles" / "ceus_mp")
    parser.add_argument("--one-box", action="store_true", help="the study's box SR holds one box on one frame "
                                                                "(tracked by the app), not the MONAI Label app's box "
                                                                "on every frame")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--gpu-case", type=Path, help="also write the GPU part's inputs here")
    args = parser.parse_args()

    import pydicom

    from deploy.demo import make_demo_study
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.log import configure
    from hccrisk.roi.sr import read_box_sr
    from hccrisk.synth.cohort import generate_cohort

    configure()
    work = args.keep or Path(tempfile.mkdtemp(prefix="hccrisk_bench_deploy_"))
    try:
        cohort, study = work / "cohort", work / ("study-one-box" if args.one_box else "study")
        if not (cohort / "dicom").exists():
            generate_cohort(cohort, n_patients=1, seed=args.seed, modality="ceus", size="realistic", workers=1,
                            progress=False)
        if not study.exists():
            make_demo_study(cohort, "SYN0001", study, one_box=args.one_box)
        bundle = args.bundle
        if not (bundle / "models" / "model.ts").is_file():
            print(f"{bundle}: no trained model; an untrained seed-0 CEUS-MP stands in (timing only)")
            bundle = work / "bundle" / "ceus_mp"
            if not (bundle / "models" / "model.ts").is_file():  # made by an earlier run with --keep
                bundle = stand_in_bundle(bundle)
        clips = sorted(p for p in study.glob("*.dcm") if p.name != "roi_sr.dcm")
        ds = pydicom.dcmread(clips[0], stop_before_pixels=True)
        size = sum(p.stat().st_size for p in clips) / 2**20
        print(f"study: {len(clips)} clips, {size:.0f} MiB, {ds.Manufacturer}, {ds.Rows}x{ds.Columns}, "
              f"{ds.file_meta.TransferSyntaxUID.name}; load average {os.getloadavg()[0]:.1f}")
        n_boxes = len(read_box_sr(study / "roi_sr.dcm"))
        print("ROI: " + ("one box on one frame (the app tracks it over the cine)" if args.one_box else
                         f"as the MONAI Label app stores it: a box SR with the margined box on each of {n_boxes} "
                         f"stored frames ({(study / 'roi_sr.dcm').stat().st_size / 2**20:.1f} MiB; the app uses "
                         f"them, nothing is tracked)"))
        decode_s, frames = plain_decode_s(clips)
        print(f"full decode (every frame):     {decode_s:7.2f} s ({frames} frames)")

        # Start-up alone: what a new process imports before it reads the first frame.
        hccrisk_cli = str(Path(sys.executable).with_name("hccrisk"))
        start_ingest = run_process([sys.executable, "-c", "import hccrisk.cli, hccrisk.ingest.pipeline; "
                                                          "hccrisk.cli._register()"])
        start_app = run_process([str(REPO / "deploy" / "run.sh"), "-c", "import deploy.app"])
        print(f"start-up only, new process:    hccrisk CLI + ingest imports {start_ingest[0]:.2f} s "
              f"(CPU {start_ingest[1]:.2f} s); app imports (holoscan, SDK, monai, torch) {start_app[0]:.2f} s "
              f"(CPU {start_app[1]:.2f} s)")

        # Cold: a new process each, study in -> outputs.
        shutil.rmtree(work / "ingest-cold", ignore_errors=True)
        ing = run_process([hccrisk_cli, "ingest", str(study), "--out", str(work / "ingest-cold"), "--workers", "1"])
        assert ing[3] == 0, "hccrisk ingest failed; run it by hand to see why"
        app = run_process([str(REPO / "deploy" / "run.sh"), "-m", "deploy", "-i", str(study), "-o",
                           str(work / "out-cold")], {**os.environ, "HCCRISK_BUNDLE": str(bundle)})
        assert app[3] == 0, "the app failed; run it by hand to see why"
        print(f"cold, `hccrisk ingest` process: {ing[0]:7.2f} s (CPU {ing[1]:.2f} s)")
        print(f"cold, app process -> SR + SC:  {app[0]:7.2f} s (CPU {app[1]:.2f} s) = {app[0] / ing[0]:.2f} x the "
              f"ingest process (CPU {app[1] / ing[1]:.2f} x); peak RSS {app[2]:.2f} GiB (target < 2)")

        # Warm: both in this process, after a first call (imports done, networks loaded).
        from deploy.app import run_study

        ingest(study, work / "ingest-warm", workers=1, force=True, progress=False)
        ingest_wall, ingest_cpu = timed(lambda: ingest(study, work / "ingest-warm", workers=1, force=True,
                                                        progress=False))
        run_study(study, work / "out-warm-0", bundle)  # warm-up: the service's state after its first study
        warm_wall, warm_cpu = timed(lambda: run_study(study, work / "out-warm", bundle))
        print(f"warm, ingest() call:           {ingest_wall:7.2f} s (CPU {ingest_cpu:.2f} s)")
        print(f"warm, run_study() (service):   {warm_wall:7.2f} s (CPU {warm_cpu:.2f} s) = "
              f"{warm_wall / ingest_wall:.2f} x the ingest call (CPU {warm_cpu / ingest_cpu:.2f} x)")
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"target app <= 1.5 x ingest: cold {'met' if app[0] <= 1.5 * ing[0] else 'NOT met'} "
              f"({app[0] / ing[0]:.2f} x), warm {'met' if warm_wall <= 1.5 * ingest_wall else 'NOT met'} "
              f"({warm_wall / ingest_wall:.2f} x); this process's peak RSS {self_rss:.2f} GiB (decode, ingest, "
              f"two app runs)")
        outputs = sorted(p.name.split("_")[0] for p in (work / "out-warm").glob("*.dcm"))
        print(f"results: {', '.join(outputs)}; load average now {os.getloadavg()[0]:.1f}")
        if args.gpu_case:
            export_gpu_case(study, bundle, args.gpu_case)
            size = sum(p.stat().st_size for p in args.gpu_case.rglob("*") if p.is_file()) / 2**20
            print(f"GPU case written to {args.gpu_case} ({size:.1f} MiB)")
            print(json.dumps({"cpu_reference": "python3 bench/deploy.py gpu DIR --device cpu"}))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
