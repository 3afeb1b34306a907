"""liu2025 (seed 000): deep learning on CEUS cines for early recurrence (< 2 years) after hepatectomy.

Four cine networks (``hccrisk.nets.ceus``: CEUS-AP, -PP, -LP on one phase, CEUS-MP on all three) trained on
the training cohort (75 of 115 in the paper, the same fraction here, stratified on the outcome); AUC with
DeLong CI, sensitivity / specificity with exact CIs at the training Youden cut-off, paired DeLong of MP vs
each single phase; clinical model (univariate P < 0.10 -> stepwise multivariable P < 0.05); nomogram of
the CEUS-MP signature (its probability) + the clinical predictors; ROC, calibration with Hosmer-Lemeshow,
decision curves; Grad-CAM on early arterial frames (paper figure 6).

Everything that learns sees the training cohort only: the networks (the paper's cross-validation in training:
each model is ``FOLDS`` networks, each early-stopped on its own fold of the training patients, never on the
validation cohort), the clinical selection, the nomogram, the cut-offs.
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
#: The paper's "ten-fold cross-validation in training", as an ensemble: the training patients are cut into
#: FOLDS stratified folds; one network per fold is early-stopped on that fold's loss and fitted on the
#: others, and the model's probability is the mean of its FOLDS networks'. One early-stopping set of ~15
#: patients alone gave a loss so noisy that 3 of 4 networks kept their epoch-1 weights
#: (docs/papers/liu2025.md). 5, not 10, for CPU time; each fold is still the former 20% hold-out.
FOLDS = 5
#: Reproduction recipe: the paper's (SGD 0.9, batch 16, lr 1e-3 halved at 15, 30, 55, L1 + L2, at most
#: 70 epochs) with early stopping (patience 10) on each fold network's held-out training patients' loss
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
    """One model: its fold networks (eval mode, CPU), each one's early-stopping patients (the rest of the
    training cohort fitted it), and the engine's summary over the folds (epochs run, best epoch, seconds)."""

    name: str
    nets: list[Any]
    stop_ids: list[list[str]]
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


def _train_fold(name: str, fit: dict[str, np.ndarray], stop: dict[str, np.ndarray], labels: pd.Series,
                config: Any) -> tuple[dict, dict[str, Any]]:
    """One fold network (a worker's job), seeded by ``config.seed``: its state dict and the engine's summary."""
    import torch

    from hccrisk.nets.ceus import build_ceus_net
    from hccrisk.nets.cohort import as_samples
    from hccrisk.nets.data import ceus_augmentation
    from hccrisk.nets.engine import fit as fit_net, seed_everything

    torch.set_num_threads(1)  # deterministic and the same in a worker and in the caller
    seed_everything(config.seed)  # the initial weights too
    net = build_ceus_net(name)
    res = fit_net(net, as_samples(fit, labels), as_samples(stop, labels), config,
                  augment=ceus_augmentation(config.seed), progress=False)  # the caller shows one bar over the folds
    return ({k: v.cpu() for k, v in net.state_dict().items()},
            {"epochs run": len(res.history), "best epoch": res.best_epoch, "best stop loss": res.best_val_loss,
             "stopped early": res.stopped_early, "seconds": res.seconds})


def train_model(name: str, cases: dict[str, np.ndarray], labels: pd.Series, train_ids: list[str], seed: int,
                config: Any, folds: int = FOLDS, workers: int | None = None) -> TrainedModel:
    """Train model ``name`` (a value of ``MODELS``) on ``train_ids``: ``folds`` networks, network k
    early-stopped on stratified fold k and fitted on the other folds, on ``workers`` processes (None: all
    cores). Same seed, same weights (CPU), whatever ``workers``."""
    from dataclasses import replace

    from sklearn.model_selection import StratifiedKFold
    from tqdm.auto import tqdm

    from hccrisk.nets.ceus import build_ceus_net, count_parameters
    from hccrisk.parallel import run_jobs

    channels = _phase_channels(name)
    ids = np.asarray(train_ids)
    y = labels.loc[train_ids].to_numpy()
    per_outcome = np.bincount(y.astype(int), minlength=2)
    if folds < 2 or per_outcome.min() < folds:
        raise InputError("training cohort", f"{folds}-fold early stopping needs >= {folds} patients of each "
                         f"outcome; have {per_outcome.tolist()}")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    jobs = []
    for k, (fit_idx, stop_idx) in enumerate(splitter.split(ids, y)):
        jobs.append((name, {p: cases[p][:, channels] for p in ids[fit_idx]},
                     {p: cases[p][:, channels] for p in ids[stop_idx]}, labels.loc[train_ids],
                     replace(config, seed=config.seed + k)))
    bar = tqdm(total=folds, desc=f"{name} folds", unit="net")
    done = run_jobs(_train_fold, jobs, workers, progress=lambda i: bar.update(), preload=("torch", "monai"))
    bar.close()
    nets = []
    for state, _ in done:
        net = build_ceus_net(name)
        net.load_state_dict(state)
        nets.append(net.cpu().eval())
    runs = [s for _, s in done]
    summary = {"parameters": count_parameters(nets[0]), "fold networks": folds,
               "fitted patients": " / ".join(str(len(j[1])) for j in jobs),
               "early-stopping patients": " / ".join(str(len(j[2])) for j in jobs),
               "epochs run": " / ".join(str(r["epochs run"]) for r in runs),
               "best epoch": " / ".join(str(r["best epoch"]) for r in runs),
               "mean best stop loss": float(np.mean([r["best stop loss"] for r in runs])),
               "stopped early": sum(r["stopped early"] for r in runs),
               "seconds (sum)": round(sum(r["seconds"] for r in runs), 1)}
    log.info("%s: %s", name, summary)
    return TrainedModel(name, nets, [list(j[2]) for j in jobs], summary)


def predict_model(model: TrainedModel, cases: dict[str, np.ndarray]) -> pd.Series:
    """Per-patient probability of early recurrence: the mean over the fold networks of each one's mean
    softmax over the patient's sub-cines."""
    from hccrisk.nets.engine import predict

    channels = _phase_channels(model.name)
    samples = [{"image": x[channels], "patient": p} for p, xs in cases.items() for x in xs]
    per_net = [pd.Series(predict(net, samples, device="cpu")) for net in model.nets]
    return sum(per_net) / len(per_net)


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


def analyse(cohort: pd.DataFrame, cases: dict[str, np.ndarray], seed: int = 0, config: Any = None,
            folds: int = FOLDS, workers: int | None = None, n_train: int | None = None) -> Liu2025Result:
    """The liu2025 analysis on a cohort table (``load_cohort``) and every patient's CEUS-MP samples
    (``load_cases``); ``config``: the networks' ``TrainConfig`` (default ``recipe(seed=seed)``);
    ``folds`` networks per model, trained on ``workers`` processes (None: all cores); ``n_train``
    training patients (default: the paper's 75:40 share of the labelled patients)."""
    from hccrisk import stats
    from hccrisk.models import ClinicalModel, split_cohort

    config = config or recipe(seed=seed)
    data = clinical_table(labelled_patients(cohort))
    ids = [p for p in data.index if p in cases]
    if len(ids) < 20:
        raise InputError("cohort", f"only {len(ids)} labelled patients have CEUS samples; need >= 20")
    data = data.loc[ids]
    n_train = n_train or int(round(len(ids) * SPLIT[0] / sum(SPLIT)))
    split = split_cohort(data, n_train=n_train, stratify=ER_ENDPOINT, seed=seed)
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
        model = train_model(name, cases, y, train, seed, config, folds=folds, workers=workers)
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
        models=models, train_config={**config.to_json(), "folds": folds}, true_risk_auc=truth, notes=notes)


def run(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None, seed: int = 0,
        workers: int | None = None, epochs: int = EPOCHS) -> Path:
    """``hccrisk reproduce liu2025``: ingest (unless given), CEUS samples, four models of ``FOLDS``
    networks each, analysis, report. ``workers``: processes for ingest and the fold networks (None: all
    cores; each network trains on one thread). Returns report.html's path."""
    import torch

    from hccrisk.reproduce.liu2025_report import write_liu2025_report

    t0 = time.perf_counter()
    torch.set_num_threads(1)
    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    ensure_ingested(paths, workers)
    cohort = load_cohort(paths.cohort, with_truth=(paths.cohort / "truth.csv").is_file())
    labelled = list(labelled_patients(cohort).index)
    cases, failures = load_cases(paths, labelled)
    result = analyse(cohort, cases, seed=seed, config=recipe(epochs=epochs, seed=seed), workers=workers)
    path = write_liu2025_report(result, paths, cohort_meta(paths.cohort), failures, time.perf_counter() - t0,
                                cases)
    log.info("liu2025 report written to %s", path)
    return path
