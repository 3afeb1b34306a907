"""huang2022 (seed 001): deep-learning radiomics (DLR) of the grayscale and peak-enhancement CEUS frames
predicts early recurrence (ER, within 1 year) and overall survival (OS).

Features (``huang2022_frames``, ``huang2022_deep``): 2D radiomics of both frames (939 each) + deep features
of a small CNN trained on the training cohort's box crops (128).
ER arm: z-score -> univariate logistic P < 0.05 -> mRMR (8) -> L1-logistic (5-fold CV) -> DLR score;
clinical model (univariate P < 0.05 -> multivariable); clinical + DLR; AUC, accuracy, sensitivity,
specificity, DeLong. Survival side (``huang2022_survival``): OS DLR score by univariate Cox C > 0.58 ->
L1-Cox; clinical and clinical + DLR Cox models; X-tile groups; calibration; Brier curves; survival NRI;
Fine-Gray for ER with death competing; four classes and retreatment; simulated reader study
(``hccrisk.reproduce.readers``). Everything that learns is fitted on the training cohort only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccrisk.cohort import CATEGORICAL_CLINICAL, NUMERIC_CLINICAL, load_cohort
from hccrisk.errors import HccriskError, InputError
from hccrisk.log import get_logger
from hccrisk.reproduce.common import cohort_meta, ensure_ingested, labelled_patients, performance_row, resolve_paths

log = get_logger(__name__)

PAPER = "huang2022"
ER = "er_1y"  #: the paper: recurrence within 1 year after resection
#: The paper: 414 patients, 289 training and 125 testing (7:3).
SPLIT_RATIO = (7, 3)
UNIVARIATE_P = 0.05
MRMR_K = 8


@dataclass
class Huang2022Result:
    """Every number of the report; ``predictions`` one row per patient (cohort, outcomes, scores,
    probabilities, groups, class). Tables are DataFrames ready to print."""

    seed: int
    baseline: pd.DataFrame
    selection_counts: pd.DataFrame
    er_coefficients: pd.DataFrame
    er_icc: pd.DataFrame
    clinical_univariate: pd.DataFrame
    clinical_multivariable: pd.DataFrame
    er_performance: pd.DataFrame
    er_delong: pd.DataFrame
    os: Any  # huang2022_survival.SurvivalModels
    c_index: pd.DataFrame
    c_compare: pd.DataFrame
    time_auc: pd.DataFrame
    xtile_cutoffs: dict[str, float]
    group_hazards: pd.DataFrame
    calibration: pd.DataFrame
    brier: pd.DataFrame
    brier_curves: dict[str, Any]
    nri: pd.DataFrame
    fine_gray_univariate: pd.DataFrame
    fine_gray_multivariable: pd.DataFrame
    classes: pd.DataFrame
    readers: Any  # readers.ReaderStudy of the simulated readers; None without a DLR ER score
    predictions: pd.DataFrame
    truth: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: arm ("ER", "OS") -> why its DLR score was not formed (no DLR feature selected), with the numbers
    dlr_missing: dict[str, str] = field(default_factory=dict)


@dataclass
class ErDlr:
    """The ER arm's DLR score: features left after each selection step (``counts``), the L1-logistic
    coefficients of the selected features (z-scored), the score (log-odds) per patient, or None with
    ``missing`` saying why when no feature was selected."""

    counts: pd.DataFrame
    coefficients: pd.DataFrame
    score: pd.Series | None
    missing: str | None = None


def er_dlr_score(features: pd.DataFrame, train: list[str], y_train: np.ndarray, seed: int) -> ErDlr:
    """``VarianceThreshold`` -> z-score -> univariate logistic P < ``UNIVARIATE_P`` -> mRMR (``MRMR_K``) ->
    L1-logistic (lambda.min, 5-fold CV), fitted on the ``train`` rows of ``features`` (patients x features);
    the score of every row. A step that leaves no feature ends the selection: no score, ``missing`` says
    which step and the numbers."""
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from hccrisk.features import LassoSelector, MRMRSelector, UnivariateLogisticFilter

    steps = ["radiomics (2 frames) + deep features", "non-constant", f"univariate logistic P < {UNIVARIATE_P}",
             f"mRMR (k = {MRMR_K})", "L1-logistic (lambda.min, 5-fold CV)"]
    left = [features.shape[1], int((features.loc[train].std() > 0).sum())]

    def result(coefs: pd.DataFrame, score: pd.Series | None, missing: str | None) -> ErDlr:
        counts = pd.DataFrame({"step": steps, "features": left + [0] * (len(steps) - len(left))})
        return ErDlr(counts, coefs, score, missing)

    no_coefs = pd.DataFrame(columns=["feature", "coefficient"])
    if left[1] == 0:
        return result(no_coefs, None, f"all {left[0]} DLR features are constant in training.")
    pre = Pipeline([("constant", VarianceThreshold(0.0)), ("scale", StandardScaler()),
                    ("univariate", UnivariateLogisticFilter(p=UNIVARIATE_P))]).set_output(transform="pandas")
    z_train = pre.fit_transform(features.loc[train], y_train)
    univariate = pre.named_steps["univariate"]
    left.append(int(univariate.support_.sum()))
    if left[2] == 0:
        return result(no_coefs, None, f"none of the {left[1]} non-constant DLR features had a univariate logistic "
                      f"P < {UNIVARIATE_P} in training (smallest P {univariate.pvalues_.min():.3f}).")
    post = Pipeline([("mrmr", MRMRSelector(k=MRMR_K)),
                     ("lasso", LassoSelector(cv=5, rule="min", random_state=seed))]).set_output(transform="pandas")
    try:
        post.fit(z_train, y_train)
    except HccriskError as exc:  # e.g. the mRMR features all uncorrelated with ER: lambda_max = 0
        left.append(min(MRMR_K, left[2]))
        return result(no_coefs, None, f"the L1-logistic model on the {left[3]} mRMR features could not select "
                      f"any ({exc}).")
    mrmr, lasso = post.named_steps["mrmr"], post.named_steps["lasso"]
    names = list(mrmr.get_feature_names_out())
    left += [len(names), int(lasso.support_.sum())]
    if left[4] == 0:
        return result(no_coefs, None, f"the L1-logistic model (lambda {lasso.lambda_:.4g}) kept none of the "
                      f"{len(names)} mRMR features.")
    coefs = pd.DataFrame({"feature": names, "coefficient": lasso.coef_})
    coefs = coefs[coefs.coefficient != 0].sort_values("coefficient", key=np.abs, ascending=False)
    z_all = mrmr.transform(pre.transform(features))
    return result(coefs, pd.Series(lasso.intercept_ + z_all.to_numpy() @ lasso.coef_, index=features.index,
                                   name="dlr_er"), None)


def dlr_features(frames: Any, ids: list[str], train: list[str], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Radiomics + deep features for observer 1 (``ids``) and observer 2 (its subset): the encoder is trained
    on the training patients' crops only (no labels). NaN radiomics columns (a filter skipped for some
    frame) are dropped."""
    from hccrisk.reproduce.huang2022_deep import deep_feature_names, deep_features, train_frame_encoder

    model = train_frame_encoder(np.stack([frames.crops1[p] for p in train]), seed=seed)
    names = deep_feature_names()
    deep1 = pd.DataFrame(deep_features(model, np.stack([frames.crops1[p] for p in ids])), index=ids, columns=names)
    ids2 = [p for p in frames.crops2 if p in frames.radiomics2.index]
    deep2 = pd.DataFrame(deep_features(model, np.stack([frames.crops2[p] for p in ids2])) if ids2 else
                         np.zeros((0, len(names))), index=ids2, columns=names)
    rad1 = frames.radiomics1.loc[ids].astype(float)
    rad1 = rad1.loc[:, rad1.notna().all()]
    f1 = pd.concat([rad1, deep1], axis=1)
    f2 = pd.concat([frames.radiomics2.reindex(index=ids2, columns=rad1.columns).astype(float), deep2], axis=1)
    return f1, f2


def _selected_icc(f1: pd.DataFrame, f2: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Inter-observer ICC(2,1) of the selected features on the observer-2 patients."""
    from hccrisk.stats import icc_per_feature

    common = [p for p in f2.index if p in f1.index]
    if len(common) < 3 or not features:
        return pd.DataFrame(columns=["feature", "icc", "low", "high"])
    table = icc_per_feature(f1.loc[common, features], f2.loc[common, features])
    return table[["icc", "low", "high"]].reset_index()


def _fit_combined(table: pd.DataFrame, y: np.ndarray, predictors: list[str], categorical: list[str],
                  notes: list[str]) -> Any:
    from hccrisk.models import NomogramModel

    try:
        return NomogramModel(predictors=predictors, categorical=categorical, missing="median").fit(table, y)
    except (HccriskError, KeyError, ValueError) as exc:
        notes.append(f"Clinical + DLR model not fitted ({exc}): the DLR score probably separates the training "
                     "outcomes perfectly.")
        return None


def analyse(cohort: pd.DataFrame, frames: Any, seed: int = 0, readers_seed: int | None = None) -> Huang2022Result:
    """The huang2022 analysis on a cohort table (``load_cohort``, with truth for synthetic cohorts) and
    ``frames`` (``huang2022_frames.FrameData``). No I/O."""
    from scipy.special import expit

    from hccrisk import stats
    from hccrisk.models import ClinicalModel, split_cohort
    from hccrisk.reproduce import huang2022_competing as competing
    from hccrisk.reproduce import huang2022_survival as surv
    from hccrisk.reproduce.readers import reader_study, simulate_reader_calls

    data = labelled_patients(cohort, ER)
    ids = [p for p in data.index if p in frames.radiomics1.index and p in frames.crops1]
    if len(ids) < 30:
        raise InputError("cohort", f"only {len(ids)} patients with a known {ER} have both frames; need >= 30")
    data = data.loc[ids]
    split = split_cohort(data, ratio=SPLIT_RATIO, stratify=ER, seed=seed)
    train, val = list(split.train), list(split.validation)
    cohorts = {"training": train, "validation": val}
    y_tr, y_va = data.loc[train, ER].to_numpy(), data.loc[val, ER].to_numpy()
    label = pd.Series("training", index=data.index).where(data.index.isin(train), "validation")
    notes: list[str] = []

    cats = [c for c in CATEGORICAL_CLINICAL if c in data]
    base = data.assign(cohort=label)
    baseline = stats.baseline_table(base, "cohort", variables=[c for c in NUMERIC_CLINICAL if c in base] + cats
                                    + [ER, "os_event", "retreatment"], categorical=cats + [ER, "os_event", "retreatment"])

    # ---- DLR features and the ER arm
    f1, f2 = dlr_features(frames, ids, train, seed)
    er = er_dlr_score(f1, train, y_tr, seed)
    dlr_missing = {}
    preds = pd.DataFrame({"cohort": label, "y": data[ER]})
    if er.score is not None:
        preds["dlr_er"] = er.score
        preds["DLR"] = expit(er.score)
    else:
        dlr_missing["ER"] = (f"DLR ER score not formed: {er.missing} The DLR model is absent and the clinical + DLR "
                             "model reduces to the clinical model; the four classes, the cumulative incidence by DLR "
                             "ER group and the reader study need the DLR ER score and are not made.")
    er_icc = _selected_icc(f1, f2, list(er.coefficients.feature))

    clin_cols = [c for c in NUMERIC_CLINICAL if c != "afp" and c in data] + ["log10_afp"] + cats
    clinical = ClinicalModel(candidates=clin_cols, categorical=cats, p_enter=0.05, p_keep=0.05,
                             method="stepwise").fit(data.loc[train], y_tr)
    preds["Clinical"] = clinical.predict_proba(data)[:, 1]
    models = ["Clinical"]
    if er.score is not None:
        models.insert(0, "DLR")
        table = data.assign(dlr_er=er.score)
        combined = _fit_combined(table.loc[train], y_tr, ["dlr_er"] + list(clinical.selected_),
                                 [c for c in clinical.selected_ if c in cats], notes)
        if combined is not None:
            preds["Clinical + DLR"] = combined.predict_proba(table)[:, 1]
            models.append("Clinical + DLR")
    perf, delong = [], []
    for m in models:
        perf += performance_row(m, y_tr, preds.loc[train, m].to_numpy(), y_va, preds.loc[val, m].to_numpy())
    for cohort_name, rows, y in (("training", train, y_tr), ("validation", val, y_va)):
        for a, b in (("DLR", "Clinical"), ("Clinical + DLR", "DLR"), ("Clinical + DLR", "Clinical")):
            if a in preds and b in preds:
                t = stats.delong_test(y, preds.loc[rows, a], preds.loc[rows, b])
                delong.append({"cohort": cohort_name, "comparison": f"{a} vs {b}", "AUC a": t.auc_a,
                               "AUC b": t.auc_b, "z": t.z, "P": t.p_value})

    # ---- OS: the DLR features z-scored with training statistics
    keep = f1.columns[f1.loc[train].std() > 0]
    z_os = (f1[keep] - f1.loc[train, keep].mean()) / f1.loc[train, keep].std()
    clinical_x = surv.clinical_design(data, train)
    os_models = surv.fit_os_models(data, z_os, clinical_x, train, seed)
    notes += os_models.notes
    if os_models.dlr_missing:
        dlr_missing["OS"] = (f"OS DLR score not formed: {os_models.dlr_missing} The DLR and clinical + DLR Cox models "
                             "are absent (the clinical Cox model is fitted alone); their C-indices, X-tile groups, "
                             "calibration, Brier curves, the survival NRI and the four classes are not made.")
    extra = {"True lp_recurrence (synthetic)": data["lp_recurrence"]} if "lp_recurrence" in data else None
    c_table, c_cmp = surv.c_index_table(data, os_models.scores, cohorts, extra)
    time_auc = surv.time_auc_table(data, os_models.scores, cohorts, train)
    groups, cuts = surv.risk_groups(data, os_models.scores, train)
    hazards = surv.group_hazard_table(data, groups, cohorts)
    cal, cal_notes = surv.calibration_tables(data, os_models.survival, cohorts)
    notes += cal_notes
    cox_table = pd.concat([data[list(surv.OS)].astype(float), clinical_x,
                           os_models.scores[[c for c in ("dlr_os",) if c in os_models.scores]]], axis=1)
    curves, brier = surv.brier_curves(data, os_models.models, cox_table, cohorts, train)
    at3 = {m: pd.Series(surv.predicted_survival_curve(f, cox_table, np.array([surv.NRI_MONTHS]),
                                                       data.loc[train, "os_time"].to_numpy(float),
                                                       data.loc[train, "os_event"].to_numpy(int))[:, 0],
                        index=data.index) for m, f in os_models.models.items()}
    nri = surv.nri_table(data, at3, cohorts, seed)
    fg_covariates = pd.concat([clinical_x] + ([preds["dlr_er"]] if "dlr_er" in preds else []), axis=1)
    fg_uni, fg_multi, fg_notes = competing.fine_gray_tables(data, fg_covariates, train, val)
    notes += fg_notes

    # ---- four classes: predicted ER high at the training Youden cut-off, OS risk high by X-tile (both DLR)
    if "DLR" in preds:
        er_cut = stats.youden_cutoff(y_tr, preds.loc[train, "DLR"]).cutoff
        preds["er_high"] = (preds["DLR"] >= er_cut).astype(int)
    if "er_high" in preds and "DLR" in groups:
        cls, class_table = competing.four_classes(data, preds["er_high"], groups["DLR"])
        preds["class"] = cls
    else:
        class_table = pd.DataFrame(columns=["class", "patients", "recurred", "retreated", "deaths"])
    for c in os_models.scores.columns:
        preds[c] = os_models.scores[c]
    preds = preds.join(groups.add_prefix("OS group "))
    for c in ("os_time", "os_event", "event_time", "event_type", "retreatment"):
        preds[c] = data[c]

    readers = None
    if "DLR" in preds:
        calls = simulate_reader_calls(data[ER], preds["DLR"], seed=seed if readers_seed is None else readers_seed)
        readers = reader_study(calls, data[ER], cohorts=label)

    truth = {}
    if "p_er_1y" in data:
        preds["true_p_er_1y"] = data["p_er_1y"]
        for name, rows, y in (("training", train, y_tr), ("validation", val, y_va)):
            a = stats.auc_ci(y, data.loc[rows, "p_er_1y"])
            truth[f"er_auc_{name}"], truth[f"er_auc_{name}_low"], truth[f"er_auc_{name}_high"] = a.auc, a.low, a.high
        for name, rows in cohorts.items():
            truth[f"os_c_lp_recurrence_{name}"] = stats.harrell_c(data.loc[rows, "os_time"], data.loc[rows, "os_event"],
                                                                  data.loc[rows, "lp_recurrence"]).c
    return Huang2022Result(
        seed=seed, baseline=baseline, selection_counts=er.counts, er_coefficients=er.coefficients, er_icc=er_icc,
        clinical_univariate=clinical.selection_.univariate, clinical_multivariable=clinical.selection_.multivariable,
        er_performance=pd.DataFrame(perf), er_delong=pd.DataFrame(delong), os=os_models, c_index=c_table,
        c_compare=c_cmp, time_auc=time_auc, xtile_cutoffs=cuts, group_hazards=hazards, calibration=cal, brier=brier,
        brier_curves=curves, nri=nri, fine_gray_univariate=fg_uni, fine_gray_multivariable=fg_multi,
        classes=class_table, readers=readers, predictions=preds, truth=truth, notes=notes, dlr_missing=dlr_missing)


def features_for(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None,
                 workers: int | None = None, progress: bool = True) -> Any:
    """Ingest (unless given), the two frames of every patient and observer, their radiomics (cached).
    Returns ``huang2022_frames.FrameData``."""
    from hccrisk.reproduce.huang2022_frames import frame_data

    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    ensure_ingested(paths, workers)
    cohort = load_cohort(paths.cohort)
    return frame_data(paths, list(cohort.index), workers, progress)


def run(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None, seed: int = 0,
        workers: int | None = None) -> Path:
    """``hccrisk reproduce huang2022``: frames and features (cached), analysis, report -> report.html."""
    import torch

    from hccrisk.reproduce.huang2022_report import write_huang2022_report

    t0 = time.perf_counter()
    frames = features_for(cohort_dir, out_dir, ingest_dir, workers)
    cohort = load_cohort(cohort_dir, with_truth=(Path(cohort_dir) / "truth.csv").is_file())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small CNN: one thread is fastest on a shared machine
    try:
        result = analyse(cohort, frames, seed=seed)
    finally:
        torch.set_num_threads(threads)
    path = write_huang2022_report(result, out_dir, cohort_dir, cohort_meta(Path(cohort_dir)), frames.failures,
                                  time.perf_counter() - t0)
    log.info("huang2022 report written to %s", path)
    return path
