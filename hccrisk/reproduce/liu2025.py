"""liu2025 (seed 000): deep learning on CEUS cines for early recurrence (< 2 years) after hepatectomy.

Four cine networks (``hccrisk.nets.ceus``: CEUS-AP, -PP, -LP on one phase, CEUS-MP on all three) trained on
the training cohort (75 of 115 in the paper, the same fraction here, stratified on the outcome); AUC with
DeLong CI, sensitivity / specificity with exact CIs at the training Youden cut-off, paired DeLong of MP vs
each single phase; clinical model (univariate P < 0.10 -> stepwise multivariable P < 0.05); nomogram of
the CEUS-MP signature (its probability) + the clinical predictors; ROC, calibration with Hosmer-Lemeshow,
decision curves; Grad-CAM on early arterial frames (paper figure 6).

Everything that learns sees the training cohort only: the networks (early stopping on an inner hold-out of
training patients, not on the validation cohort), the clinical selection, the nomogram, the cut-offs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccrisk.cohort import CATEGORICAL_CLINICAL, NUMERIC_CLINICAL, load_cohort
from hccrisk.errors import InputError
from hccrisk.log import get_logger, pseudonym
from hccrisk.reproduce.common import (ER_ENDPOINT, RunPaths, cohort_meta, ensure_ingested, labelled_patients,
                                      resolve_paths)

log = get_logger(__name__)

PAPER = "liu2025"
#: Report name -> network name (hccrisk.nets.ceus.CEUS_MODELS); CEUS-MP is the headline model.
MODELS = {"CEUS-MP": "ceus_mp", "CEUS-AP": "ceus_ap", "CEUS-PP": "ceus_pp", "CEUS-LP": "ceus_lp"}
#: The paper: 115 patients "randomly divided into training (n = 75) and validation (n = 40)".
SPLIT = (75, 40)
#: Fraction of the training patients held out (stratified) for early stopping on their loss.
STOP_FRACTION = 0.2
#: Reproduction recipe: the paper's (SGD 0.9, batch 16, lr 1e-3 halved at 15, 30, 55, L1 + L2, at most
#: 70 epochs) with early stopping (patience 10) on the held-out training patients' loss
#: (docs/papers/liu2025.md); ``recipe(epochs)`` scales the milestones for shorter test runs.
EPOCHS = 70
PATIENCE = 10
#: Paper Table 3 / figure 5: ALB and AFP enter dichotomised (ALB < 35 g/L, AFP >= 200 ng/mL).
ALB_LOW, AFP_HIGH = 35.0, 200.0
CLINICAL_CATEGORICAL = tuple(CATEGORICAL_CLINICAL)
CLINICAL_CANDIDATES = (tuple(c for c in NUMERIC_CLINICAL if c not in ("afp", "alb")) + ("alb_low", "afp_high")
                       + CLINICAL_CATEGORICAL)
SIGNATURE = "ceus_mp_signature"
#: Early arterial time points of the paper's figure 6 (s from injection).
CAM_TIMES = (9.0, 12.0, 15.0)
#: Grad-CAM layer: the third separable block (8 x 8 positions per 64 x 64 frame). The last block's 4 x 4
#: maps are too coarse to show structure; the second block's 16 x 16 maps collapsed to a single peak on a
#: briefly trained network (docs/papers/liu2025.md).
CAM_LAYER = "features.2"


def recipe(epochs: int = EPOCHS, patience: int = PATIENCE, seed: int = 0) -> Any:
    """The ``TrainConfig`` of the reproduction: the paper's recipe, milestones scaled to ``epochs``."""
    from hccrisk.nets.engine import TrainConfig

    milestones = tuple(sorted({max(1, round(m * epochs / 70)) for m in (15, 30, 55)}))
    return TrainConfig(epochs=epochs, milestones=milestones, patience=patience, seed=seed, device="auto")


@dataclass
class TrainedModel:
    """One network: its weights (eval mode, CPU), the patients it was fitted and early-stopped on, and
    the engine's summary (epochs run, best epoch, seconds)."""

    name: str
    net: Any
    fit_ids: list[str]
    stop_ids: list[str]
    summary: dict[str, Any]


@dataclass
class Liu2025Result:
    """Every number the report shows; ``predictions`` one row per patient (cohort, y, each model's
    probability, true_risk when known)."""

    seed: int
    baseline: pd.DataFrame
    training: pd.DataFrame
    performance: pd.DataFrame
    delong: pd.DataFrame
    clinical_univariate: pd.DataFrame
    clinical_multivariable: pd.DataFrame
    clinical_selected: tuple[str, ...]
    nomogram_table: pd.DataFrame
    hosmer_lemeshow: pd.DataFrame
    predictions: pd.DataFrame
    nomogram: Any
    nomogram_predictors: tuple[str, ...] = ()
    models: dict[str, TrainedModel] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    true_risk_auc: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)


def clinical_table(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort with the paper's dichotomies added: ``alb_low`` (ALB < 35 g/L), ``afp_high``
    (AFP >= 200 ng/mL); missing stays missing."""
    out = cohort.copy()
    for name, col, test in (("alb_low", "alb", lambda v: v < ALB_LOW), ("afp_high", "afp", lambda v: v >= AFP_HIGH)):
        if col in out:
            out[name] = test(out[col]).astype(float).where(out[col].notna())
    return out


def load_cases(paths: RunPaths, patients: list[str], observer: int = 1) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """CEUS-MP samples of every patient ((n_splits, 3, n_frames, 64, 64), ``hccrisk.nets.data``); a
    single-phase model's samples are channel p of these (each phase is sampled on its own).
    Returns (cases, failures as rows patient_id / problem)."""
    from tqdm.auto import tqdm

    from hccrisk.errors import HccriskError
    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.nets.data import ceus_case_samples

    cases, failures = {}, []
    for pid in tqdm(patients, desc="CEUS samples", unit="patient"):
        pdir = paths.ingest / patient_dir_name(pid)
        try:
            if not (pdir / "ceus.npz").is_file():
                raise InputError(pdir, "no ingested CEUS cine (see the ingest's problems.csv)")
            cases[pid] = ceus_case_samples(pdir, roi_dir=paths.cohort / "rois" / f"observer{observer}" / pid)
        except HccriskError as exc:
            log.warning("CEUS samples of %s: %s", pseudonym(pid), exc)
            failures.append({"patient_id": pid, "problem": str(exc)})
    return cases, pd.DataFrame(failures, columns=["patient_id", "problem"])


def _phase_channels(name: str) -> list[int]:
    from hccrisk.nets.ceus import CEUS_MODELS, PHASES

    return [PHASES.index(p) for p in CEUS_MODELS[name]]


def train_model(name: str, cases: dict[str, np.ndarray], labels: pd.Series, train_ids: list[str], seed: int,
                config: Any) -> TrainedModel:
    """Train network ``name`` (a value of ``MODELS``) on ``train_ids``: a stratified ``STOP_FRACTION`` of
    them is held out for early stopping, the rest fitted. Same seed, same weights (CPU)."""
    from hccrisk.models.split import split_cohort
    from hccrisk.nets.cohort import as_samples
    from hccrisk.nets.ceus import build_ceus_net, count_parameters
    from hccrisk.nets.data import ceus_augmentation
    from hccrisk.nets.engine import fit, seed_everything

    frame = labels.loc[train_ids].to_frame("label")
    inner = split_cohort(frame, ratio=(1 - STOP_FRACTION, STOP_FRACTION), stratify="label", seed=seed)
    fit_ids, stop_ids = list(inner.train), list(inner.validation)
    channels = _phase_channels(name)
    sub = {p: x[:, channels] for p, x in cases.items() if p in set(train_ids)}
    seed_everything(config.seed)  # the initial weights too
    net = build_ceus_net(name)
    res = fit(net, as_samples({p: sub[p] for p in fit_ids}, labels), as_samples({p: sub[p] for p in stop_ids}, labels),
              config, augment=ceus_augmentation(seed), progress=True)
    net.cpu().eval()
    summary = {"parameters": count_parameters(net), "fitted patients": len(fit_ids),
               "early-stopping patients": len(stop_ids), "epochs run": len(res.history),
               "best epoch": res.best_epoch, "best stop loss": res.best_val_loss,
               "stopped early": res.stopped_early, "seconds": round(res.seconds, 1)}
    log.info("%s: %s", name, summary)
    return TrainedModel(name, net, fit_ids, stop_ids, summary)


def predict_model(model: TrainedModel, cases: dict[str, np.ndarray]) -> pd.Series:
    """Per-patient probability of early recurrence (mean softmax over the sub-cines)."""
    from hccrisk.nets.engine import predict

    channels = _phase_channels(model.name)
    samples = [{"image": x[channels], "patient": p} for p, xs in cases.items() for x in xs]
    return pd.Series(predict(model.net, samples, device="cpu"))


def performance_rows(model: str, y_train: np.ndarray, p_train: np.ndarray, y_val: np.ndarray,
                     p_val: np.ndarray) -> list[dict[str, Any]]:
    """Paper Table 2 rows (training, validation): AUC with DeLong CI; sensitivity, specificity, accuracy
    with exact (Clopper-Pearson) CIs at the Youden cut-off of the training cohort, applied to validation."""
    from hccrisk import stats

    cut = stats.youden_cutoff(y_train, p_train).cutoff
    rows = []
    for cohort, y, p in (("training", y_train, p_train), ("validation", y_val, p_val)):
        auc, dm = stats.auc_ci(y, p), stats.diagnostic_metrics(y, p, cut)
        row = {"model": model, "cohort": cohort, "n": len(y), "events": int(np.sum(y)),
               "AUC": auc.auc, "AUC low": auc.low, "AUC high": auc.high}
        for metric in ("sensitivity", "specificity", "accuracy"):
            m = getattr(dm, metric)
            row.update({metric: m.estimate, f"{metric} low": m.low, f"{metric} high": m.high})
        rows.append({**row, "cut-off (training Youden)": cut})
    return rows


def _fit_nomogram(table: pd.DataFrame, y: np.ndarray, predictors: list[str], categorical: list[str],
                  notes: list[str]) -> Any:
    from hccrisk.errors import HccriskError
    from hccrisk.models import NomogramModel

    try:
        return NomogramModel(predictors=predictors, categorical=categorical, missing="median").fit(table, y)
    except (HccriskError, KeyError, ValueError) as exc:
        notes.append(f"Nomogram not fitted ({exc}): the CEUS-MP signature probably separates the training "
                     "outcomes perfectly (a network fitted on these patients), so maximum likelihood has no "
                     "finite estimate.")
        return None


def analyse(cohort: pd.DataFrame, cases: dict[str, np.ndarray], seed: int = 0, config: Any = None) -> Liu2025Result:
    """The liu2025 analysis on a cohort table (``load_cohort``) and every patient's CEUS-MP samples
    (``load_cases``); ``config``: the networks' ``TrainConfig`` (default ``recipe(seed=seed)``)."""
    from hccrisk import stats
    from hccrisk.models import ClinicalModel, split_cohort

    config = config or recipe(seed=seed)
    data = clinical_table(labelled_patients(cohort))
    ids = [p for p in data.index if p in cases]
    if len(ids) < 20:
        raise InputError("cohort", f"only {len(ids)} labelled patients have CEUS samples; need >= 20")
    data = data.loc[ids]
    split = split_cohort(data, n_train=int(round(len(ids) * SPLIT[0] / sum(SPLIT))), stratify=ER_ENDPOINT, seed=seed)
    train, val = list(split.train), list(split.validation)
    y = data[ER_ENDPOINT]
    y_train, y_val = y.loc[train].to_numpy(), y.loc[val].to_numpy()
    cohort_label = pd.Series("training", index=data.index).where(data.index.isin(train), "validation")

    cats = [c for c in CLINICAL_CATEGORICAL if c in data]
    variables = [c for c in NUMERIC_CLINICAL if c in data] + [c for c in CATEGORICAL_CLINICAL if c in data] + [ER_ENDPOINT]
    baseline = stats.baseline_table(data.assign(cohort=cohort_label), "cohort", variables=variables,
                                    categorical=[c for c in CATEGORICAL_CLINICAL if c in data] + [ER_ENDPOINT])

    preds = pd.DataFrame({"cohort": cohort_label, "y": y})
    models, training_rows, perf_rows = {}, [], []
    for label, name in MODELS.items():
        model = train_model(name, cases, y, train, seed, config)
        models[label] = model
        preds[label] = predict_model(model, {p: cases[p] for p in ids})
        training_rows.append({"model": label, **model.summary})
        perf_rows += performance_rows(label, y_train, preds.loc[train, label].to_numpy(), y_val,
                                      preds.loc[val, label].to_numpy())

    clin_cols = [c for c in CLINICAL_CANDIDATES if c in data]
    clinical = ClinicalModel.from_paper(PAPER, candidates=clin_cols, categorical=cats).fit(data.loc[train], y_train)
    preds["Clinical"] = clinical.predict_proba(data)[:, 1]
    perf_rows += performance_rows("Clinical", y_train, preds.loc[train, "Clinical"].to_numpy(), y_val,
                                  preds.loc[val, "Clinical"].to_numpy())

    table = data.assign(**{SIGNATURE: preds["CEUS-MP"]})
    predictors = [SIGNATURE] + list(clinical.selected_)
    notes: list[str] = []
    nomo = _fit_nomogram(table.loc[train], y_train, predictors, [c for c in clinical.selected_ if c in cats], notes)
    hl_rows = []
    if nomo is not None:
        preds["Nomogram"] = nomo.predict_proba(table)[:, 1]
        perf_rows += performance_rows("Nomogram", y_train, preds.loc[train, "Nomogram"].to_numpy(), y_val,
                                      preds.loc[val, "Nomogram"].to_numpy())
    for name in [m for m in ("Nomogram", "CEUS-MP", "Clinical") if m in preds]:
        for cohort_name, rows, yy in (("training", train, y_train), ("validation", val, y_val)):
            hl = stats.hosmer_lemeshow(yy, preds.loc[rows, name].to_numpy())
            hl_rows.append({"model": name, "cohort": cohort_name, "chi-square": hl.statistic, "df": hl.df,
                            "P": hl.p_value})

    compared = [("CEUS-MP", m) for m in ("CEUS-AP", "CEUS-PP", "CEUS-LP")]
    if nomo is not None:
        compared += [("Nomogram", "Clinical"), ("Nomogram", "CEUS-MP")]
    delong_rows = []
    for cohort_name, rows, yy in (("training", train, y_train), ("validation", val, y_val)):
        for a, b in compared:
            t = stats.delong_test(yy, preds.loc[rows, a], preds.loc[rows, b])
            delong_rows.append({"cohort": cohort_name, "comparison": f"{a} vs {b}", "AUC a": t.auc_a,
                                "AUC b": t.auc_b, "z": t.z, "P": t.p_value})

    truth = None
    if "p_er_2y" in data:
        t_tr, t_va = stats.auc_ci(y_train, data.loc[train, "p_er_2y"]), stats.auc_ci(y_val, data.loc[val, "p_er_2y"])
        preds["true_risk"] = data["p_er_2y"]
        truth = {"training": t_tr.auc, "validation": t_va.auc, "validation_low": t_va.low, "validation_high": t_va.high}
    return Liu2025Result(
        seed=seed, baseline=baseline, training=pd.DataFrame(training_rows), performance=pd.DataFrame(perf_rows),
        delong=pd.DataFrame(delong_rows), clinical_univariate=clinical.selection_.univariate,
        clinical_multivariable=clinical.selection_.multivariable, clinical_selected=tuple(clinical.selected_),
        nomogram_table=nomo.odds_ratio_table() if nomo is not None else pd.DataFrame(),
        hosmer_lemeshow=pd.DataFrame(hl_rows), predictions=preds,
        nomogram=nomo.to_nomogram() if nomo is not None else None, nomogram_predictors=tuple(predictors),
        models=models, train_config=config.to_json(), true_risk_auc=truth, notes=notes)


def run(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None, seed: int = 0,
        workers: int | None = None, epochs: int = EPOCHS) -> Path:
    """``hccrisk reproduce liu2025``: ingest (unless given), CEUS samples, four networks, analysis,
    report. ``workers``: torch CPU threads (default 1: on a shared, loaded machine more threads were
    slower). Returns report.html's path."""
    import torch

    from hccrisk.reproduce.liu2025_report import write_liu2025_report

    t0 = time.perf_counter()
    torch.set_num_threads(workers or 1)
    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    ensure_ingested(paths, workers)
    cohort = load_cohort(paths.cohort, with_truth=(paths.cohort / "truth.csv").is_file())
    labelled = list(labelled_patients(cohort).index)
    cases, failures = load_cases(paths, labelled)
    result = analyse(cohort, cases, seed=seed, config=recipe(epochs=epochs, seed=seed))
    path = write_liu2025_report(result, paths, cohort_meta(paths.cohort), failures, time.perf_counter() - t0,
                                cases)
    log.info("liu2025 report written to %s", path)
    return path
