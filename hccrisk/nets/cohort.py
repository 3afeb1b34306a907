"""Train a CEUS network on an ingested cohort and write its weights (into a bundle's ``models/``):
what ``hccrisk train ceus`` and the bundles' ``configs/train.json`` call."""

from __future__ import annotations

import csv
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hccrisk.errors import InputError
from hccrisk.nets.ceus import CEUS_MODELS, build_ceus_net, count_parameters
from hccrisk.nets.data import CROP, N_FRAMES, N_SPLITS, ceus_augmentation, ceus_case_samples
from hccrisk.nets.engine import TrainConfig, fit, predict, seed_everything

log = logging.getLogger(__name__)


def load_ceus_cohort(ingest_dir: str | Path, cohort_dir: str | Path, model: str = "ceus_mp", label: str = "er_2y",
                     observer: int = 1, n_frames: int = N_FRAMES, n_splits: int = N_SPLITS, crop: int = CROP,
                     patients: list[str] | None = None) -> tuple[dict[str, np.ndarray], pd.Series]:
    """Every labelled, ingested patient's samples: ({patient: (n_splits, P, n_frames, crop, crop)}, labels).

    ``cohort_dir`` holds ``outcomes.csv`` (the ``label`` column, empty = unknown: skipped) and
    ``rois/observer<k>/<patient>/``. Patients whose case cannot be read are logged and skipped.
    """
    cohort, ingest = Path(cohort_dir), Path(ingest_dir)
    path = cohort / "outcomes.csv"
    if not path.exists():
        raise InputError(path, "no outcomes.csv in the cohort folder")
    out = pd.read_csv(path, dtype={"patient_id": str}).set_index("patient_id")
    if label not in out.columns:
        raise InputError(path, f"no column {label!r}")
    labels = out[label].dropna().astype(int)
    if patients is not None:
        labels = labels[labels.index.isin(patients)]
    samples = {}
    for pid in labels.index:
        pdir = ingest / pid
        if not (pdir / "ceus.npz").exists():
            continue
        try:
            samples[pid] = ceus_case_samples(pdir, roi_dir=cohort / "rois" / f"observer{observer}" / pid,
                                             phases=CEUS_MODELS[model], n_frames=n_frames, n_splits=n_splits, crop=crop)
        except InputError as exc:
            log.warning("skipped %s: %s", pid, exc)
    if len(samples) < 4:
        raise InputError(ingest, f"only {len(samples)} labelled patients with a CEUS cine and ROI")
    return samples, labels.loc[list(samples)]


def as_samples(cases: dict[str, np.ndarray], labels: pd.Series) -> list[dict]:
    """Engine samples: one per sub-cine."""
    return [{"image": x, "label": int(labels[pid]), "patient": pid} for pid, xs in cases.items() for x in xs]


def train_ceus_cohort(ingest_dir: str | Path, cohort_dir: str | Path, out_dir: str | Path, model: str = "ceus_mp",
                      label: str = "er_2y", n_train: int | None = None, seed: int = 0,
                      config: TrainConfig | None = None, n_frames: int = N_FRAMES, n_splits: int = N_SPLITS,
                      crop: int = CROP, progress: bool = True) -> dict:
    """Split the cohort by patient (stratified on the label; liu2025: 75 training of 115), train with
    early stopping on the validation loss, and write to ``out_dir``: ``model.pt`` (state dict),
    ``model.ts`` (TorchScript), ``predictions.csv`` (patient, cohort, label, probability), ``metrics.csv``,
    ``config.json``, ``summary.json``. Returns the summary."""
    from sklearn.metrics import roc_auc_score

    from hccrisk.models.split import split_cohort

    config = config or TrainConfig(seed=seed)
    cases, labels = load_ceus_cohort(ingest_dir, cohort_dir, model, label, n_frames=n_frames, n_splits=n_splits,
                                     crop=crop)
    frame = labels.to_frame("label")
    n_train = n_train or int(round(len(frame) * 75 / 115))
    split = split_cohort(frame, n_train=min(n_train, len(frame) - 2), stratify="label", seed=seed)
    train_ids, val_ids = list(split.train), list(split.validation)
    seed_everything(config.seed)  # the initial weights too, not only the training loop
    net = build_ceus_net(model)
    out = Path(out_dir)
    log.info("%s: %d parameters, %d training / %d validation patients", model, count_parameters(net),
             len(train_ids), len(val_ids))
    result = fit(net, as_samples({p: cases[p] for p in train_ids}, labels),
                 as_samples({p: cases[p] for p in val_ids}, labels), config, augment=ceus_augmentation(seed),
                 out_dir=out / "training", progress=progress)
    net.cpu().eval()
    torch.save(net.state_dict(), out / "model.pt")
    export_torchscript(net, out / "model.ts", (1, len(CEUS_MODELS[model]), n_frames, crop, crop))
    probs = predict(net, as_samples(cases, labels), device="cpu")
    rows = [{"patient": p, "cohort": "training" if p in train_ids else "validation", "label": int(labels[p]),
             "probability": probs[p]} for p in cases]
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    auc = {}
    for c in ("training", "validation"):
        y = [r["label"] for r in rows if r["cohort"] == c]
        s = [r["probability"] for r in rows if r["cohort"] == c]
        auc[c] = float(roc_auc_score(y, s)) if len(set(y)) == 2 else None
    summary = {"model": model, "parameters": count_parameters(net), "label": label, "n_training": len(train_ids),
               "n_validation": len(val_ids), "best_epoch": result.best_epoch, "epochs_run": len(result.history),
               "stopped_early": result.stopped_early, "seconds": round(result.seconds, 1), "auc": auc,
               "input_shape": [len(CEUS_MODELS[model]), n_frames, crop, crop], "n_splits": n_splits,
               "config": config.to_json()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def export_torchscript(net: torch.nn.Module, path: str | Path, example_shape: tuple[int, ...],
                       *more_shapes: tuple[int, ...]) -> Path:
    """Trace ``net`` (eval, CPU) to TorchScript for MONAI Deploy's MonaiBundleInferenceOperator, and check
    that the traced module gives the same outputs. ``more_shapes``: further inputs' shapes (DLRCR's
    tabular predictors)."""
    net = net.cpu().eval()
    xs = tuple(torch.rand(s) for s in (example_shape, *more_shapes))
    with torch.no_grad(), warnings.catch_warnings():
        # the forward's input-shape checks become constants in the trace: right for a fixed input layout,
        # and the outputs are compared below
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ts = torch.jit.trace(net, xs)
        if not torch.allclose(ts(*xs), net(*xs), atol=1e-5):
            raise RuntimeError("TorchScript export differs from the network")
    torch.jit.save(ts, str(path))
    return Path(path)
