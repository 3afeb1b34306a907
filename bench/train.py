"""Benchmark: train CEUS-MP (liu2025) on 75 patients for 70 epochs, and inference time per study.

    .venv/bin/python bench/train.py [--epochs 70] [--patients 75] [--threads 1] [--device auto] [--ingest I --cohort C]

Training runs the real engine (``hccrisk.nets.engine.fit``: SGD, augmentation, L1 + L2, validation loss on
40 patients each epoch, checkpoints off) with early stopping off, on 75 patients x 4 interleaved
sub-cines of (3 phases, 8 frames, 64 x 64). Without ``--ingest/--cohort`` the inputs are random tensors
of exactly that shape (the time does not depend on the pixel values); with them, the first patients of
an ingested cohort. ``--epochs`` below 70 measures fewer epochs and also prints the 70-epoch figure
extrapolated from the mean epoch time (labelled as such). Inference: per study, after one warm-up, the
network on a patient's 4 sub-cines (and, with an ingested cohort, the preprocessing from ceus.npz).
Target: 70 epochs <= 10 min on the CPU. The machine's load average is printed: it is shared.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from hccrisk.nets.ceus import build_ceus_net, count_parameters
from hccrisk.nets.data import CROP, N_FRAMES, N_SPLITS, ceus_augmentation
from hccrisk.nets.engine import TrainConfig, fit, resolve_device


def random_samples(n_patients: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"image": rng.random((3, N_FRAMES, CROP, CROP), dtype=np.float32), "label": p % 2, "patient": f"b{seed}-{p}"}
            for p in range(n_patients) for _ in range(N_SPLITS)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=70)
    ap.add_argument("--patients", type=int, default=75)
    ap.add_argument("--validation", type=int, default=40)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on the shared, loaded 2-core machine 2 threads were "
                         "4.7x slower per epoch than 1, from oversubscription)")
    ap.add_argument("--ingest")
    ap.add_argument("--cohort")
    args = ap.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"torch {torch.__version__}; device {device}{gpu}; torch threads {torch.get_num_threads()}; load average {os.getloadavg()} "
          f"on {os.cpu_count()} CPUs (shared machine)")
    prep_s = None
    if args.ingest and args.cohort:
        from hccrisk.nets.cohort import as_samples, load_ceus_cohort

        t = time.perf_counter()
        cases, labels = load_ceus_cohort(args.ingest, args.cohort, label="er_2y")
        prep_s = (time.perf_counter() - t) / len(cases)
        ids = list(cases)
        train = as_samples({p: cases[p] for p in ids[:args.patients]}, labels)
        val = as_samples({p: cases[p] for p in ids[args.patients:args.patients + args.validation]}, labels) or None
    else:
        train, val = random_samples(args.patients, 0), random_samples(args.validation, 1)
    net = build_ceus_net("ceus_mp")
    print(f"CEUS-MP: {count_parameters(net)} parameters; {len(train)} training samples "
          f"({args.patients} patients x {N_SPLITS}), {len(val or [])} validation samples")
    cfg = TrainConfig(epochs=args.epochs, patience=0, device=str(device))
    res = fit(net, train, val, cfg, augment=ceus_augmentation(0), progress=False)
    per_epoch = res.seconds / len(res.history)
    print(f"train: {len(res.history)} epochs in {res.seconds:.1f} s ({per_epoch:.2f} s/epoch)")
    if len(res.history) < 70:
        print(f"train: 70 epochs extrapolated = {70 * per_epoch / 60:.1f} min (target <= 10 min)")
    else:
        print(f"train: 70 epochs = {res.seconds / 60:.1f} min (target <= 10 min)")
    net.eval()
    x = torch.as_tensor(np.stack([s["image"] for s in train[:N_SPLITS]])).to(device)
    with torch.no_grad():
        net(x)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        times = []
        for _ in range(10):
            t = time.perf_counter()
            torch.softmax(net(x), 1).mean(0)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    print(f"inference: network {1000 * np.median(times):.1f} ms per study (median of 10, after warm-up)")
    if prep_s is not None:
        print(f"inference: preprocessing (ceus.npz -> ROI crops -> samples) {prep_s:.2f} s per study")


if __name__ == "__main__":
    main()
