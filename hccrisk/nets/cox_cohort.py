"""Cox-CNN inputs from an ingested cohort, training of one treatment's model (R-RFA or R-SR, liu2020) and its
export into a bundle's ``models/``: what ``hccrisk train coxcnn``, the bundles' ``configs/train.json`` and
``hccrisk reproduce liu2020`` call.

Input per patient: (K, 3, T, H, W) float32 in [0, 1]: the AP (0-30 s), PP (30-120 s) and VP (120-180 s)
samples of the 2 fps cine inside the observer's tumour box + 1 cm (``hccrisk.nets.cox_transforms``),
T frames per phase, K interleaved sub-cines (``hccrisk.nets.data``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hccrisk.errors import HccriskError, InputError
from hccrisk.log import get_logger, pseudonym
from hccrisk.nets.ceus import count_parameters
from hccrisk.nets.cohort import export_torchscript
from hccrisk.nets.cox import COX_PHASES, CoxTrainConfig, build_cox_cnn, fit_cox, predict_log_hazard
from hccrisk.nets.cox_transforms import FIRST_SECONDS, MARGIN_MM
from hccrisk.nets.data import CROP, N_FRAMES, N_SPLITS, ceus_augmentation
from hccrisk.nets.engine import seed_everything

log = get_logger(__name__)

TREATMENTS = ("RFA", "SR")
#: liu2020's endpoint: progression-free survival (outcomes.csv, months).
PFS = ("pfs_time", "pfs_event")


def cox_preprocessing(n_frames: int = N_FRAMES, n_splits: int = N_SPLITS, crop: int = CROP,
                      margin_mm: float = MARGIN_MM, seconds: float = FIRST_SECONDS):
    """The MONAI chain {"image": patient folder, "roi": observer folder} -> "image" (K, 3, T, crop, crop)
    tensor: the same objects the bundles' inference.json lists."""
    from monai.transforms import Compose

    from hccrisk.nets.cox_transforms import KeepFirstSecondsd, LoadIngestedCeusTimesd
    from hccrisk.nets.transforms import CeusPhaseSamplesd, CropCeusRoid

    return Compose([LoadIngestedCeusTimesd("image", "roi", margin_mm), KeepFirstSecondsd(seconds),
                    CropCeusRoid("image", crop), CeusPhaseSamplesd("image", COX_PHASES, n_frames, n_splits)])


def load_cox_cases(ingest_dir: str | Path, cohort_dir: str | Path, patients: Sequence[str], observer: int = 1,
                   n_frames: int = N_FRAMES, n_splits: int = N_SPLITS, crop: int = CROP,
                   margin_mm: float = MARGIN_MM, progress: bool = True) -> tuple[dict[str, np.ndarray], list[dict]]:
    """({patient: (K, 3, T, crop, crop) float32}, failures as rows patient_id/problem) for ``patients``
    with an ingested ``ceus.npz`` and an observer ROI; a patient that cannot be read is a failure, not
    an abort."""
    from tqdm.auto import tqdm

    from hccrisk.ingest.pipeline import patient_dir_name

    chain = cox_preprocessing(n_frames, n_splits, crop, margin_mm)
    cases: dict[str, np.ndarray] = {}
    failures: list[dict] = []
    for pid in tqdm(list(patients), desc="CEUS inputs", unit="patient", disable=not progress):
        pdir = Path(ingest_dir) / patient_dir_name(pid)
        roi = Path(cohort_dir) / "rois" / f"observer{observer}" / pid
        try:
            if not (pdir / "ceus.npz").is_file():
                raise InputError(pdir, "no ingested CEUS cine (ceus.npz); see the ingest's problems.csv")
            cases[pid] = np.asarray(chain({"image": str(pdir), "roi": str(roi)})["image"], np.float32)
        except (HccriskError, RuntimeError, ValueError) as exc:
            log.warning("%s: no Cox-CNN input: %s", pseudonym(pid), exc)
            failures.append({"patient_id": pid, "problem": str(exc)})
    return cases, failures


def train_cox_model(cases: Mapping[str, np.ndarray], time: Mapping[str, float], event: Mapping[str, int],
                    config: CoxTrainConfig = CoxTrainConfig(), augment: bool = True, out_dir: str | Path | None = None,
                    progress: bool = True) -> torch.nn.Module:
    """A new Cox-CNN trained on ``cases`` (training patients only), seeded by ``config.seed`` (initial
    weights included). With ``out_dir``: ``training/metrics.csv``, ``model.pt``, ``model.ts`` there."""
    seed_everything(config.seed)
    net = build_cox_cnn()
    aug = ceus_augmentation(config.seed) if augment else None
    out = Path(out_dir) if out_dir is not None else None
    fit_cox(net, cases, time, event, config, augment=aug, out_dir=out / "training" if out else None, progress=progress)
    net.cpu().eval()
    if out is not None:
        torch.save(net.state_dict(), out / "model.pt")
        shape = (1,) + tuple(np.shape(next(iter(cases.values())))[1:])
        export_torchscript(net, out / "model.ts", shape)
    return net


def survival_table(cohort_dir: str | Path) -> pd.DataFrame:
    """patient_id-indexed treatment, pfs_time, pfs_event from the cohort's clinical.csv and outcomes.csv."""
    cohort = Path(cohort_dir)
    for name in ("clinical.csv", "outcomes.csv"):
        if not (cohort / name).is_file():
            raise InputError(cohort / name, "missing: a cohort folder needs clinical.csv and outcomes.csv")
    clin = pd.read_csv(cohort / "clinical.csv", dtype={"patient_id": str}).set_index("patient_id")
    out = pd.read_csv(cohort / "outcomes.csv", dtype={"patient_id": str}).set_index("patient_id")
    if "treatment" not in clin:
        raise InputError(cohort / "clinical.csv", "no treatment column (RFA/SR)")
    missing = [c for c in PFS if c not in out]
    if missing:
        raise InputError(cohort / "outcomes.csv", f"no column(s) {missing}")
    return clin[["treatment"]].join(out[list(PFS)], how="inner").dropna()


def train_coxcnn_cohort(ingest_dir: str | Path, cohort_dir: str | Path, out_dir: str | Path, treatment: str,
                        seed: int = 0, config: CoxTrainConfig | None = None, n_frames: int = N_FRAMES,
                        n_splits: int = N_SPLITS, crop: int = CROP, progress: bool = True) -> dict:
    """Train R-``treatment`` on that treatment's patients, split 2:1 by patient (stratified on the PFS
    event, seeded), and write to ``out_dir``: ``model.pt``, ``model.ts``, ``predictions.csv`` (patient,
    cohort, pfs_time, pfs_event, log_hazard), ``training/``, ``summary.json`` (C-index per cohort). Returns
    the summary."""
    from hccrisk.models.split import split_cohort
    from hccrisk.stats import harrell_c

    if treatment not in TREATMENTS:
        raise InputError("treatment", f"must be one of {TREATMENTS}, got {treatment!r}")
    config = config or CoxTrainConfig(seed=seed)
    table = survival_table(cohort_dir)
    table = table[table.treatment == treatment]
    cases, _ = load_cox_cases(ingest_dir, cohort_dir, list(table.index), n_frames=n_frames, n_splits=n_splits,
                              crop=crop, progress=progress)
    if len(cases) < 6:
        raise InputError(ingest_dir, f"only {len(cases)} {treatment} patients with a CEUS cine and ROI")
    table = table.loc[list(cases)]
    stratify = "pfs_event" if table.pfs_event.value_counts().min() >= 2 else None  # tiny cohorts: unstratified
    split = split_cohort(table, ratio=(2, 1), stratify=stratify, seed=seed)
    train = list(split.train)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = train_cox_model({p: cases[p] for p in train}, table.pfs_time.to_dict(), table.pfs_event.astype(int).to_dict(),
                          config, out_dir=out, progress=progress)
    lh = predict_log_hazard(net, cases, device="cpu")
    rows = [{"patient": p, "cohort": "training" if p in set(train) else "validation", "pfs_time": table.pfs_time[p],
             "pfs_event": int(table.pfs_event[p]), "log_hazard": lh[p]} for p in cases]
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    c_index = {}
    for cohort in ("training", "validation"):
        sub = [r for r in rows if r["cohort"] == cohort]
        c_index[cohort] = float(harrell_c([r["pfs_time"] for r in sub], [r["pfs_event"] for r in sub],
                                          [r["log_hazard"] for r in sub]).c)
    summary = {"model": f"R-{treatment}", "treatment": treatment, "parameters": count_parameters(net),
               "n_training": len(train), "n_validation": len(rows) - len(train), "c_index": c_index,
               "input_shape": list(np.shape(next(iter(cases.values())))[1:]), "n_splits": n_splits,
               "ties": config.ties, "config": config.to_json()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
