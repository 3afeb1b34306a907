"""chen2025 (seed 004): MRI deep-learning + radiomics + clinical nomogram of recurrence within 6 months
after thermal ablation (er_6m).

Rad score: pyradiomics ``chen2025_mri`` (bin width 5, 1197 features per sequence) on the WHOLE LIVER of
T2WI, AP, PVP, DP -> Mann-Whitney U P < 0.05 -> |r| > 0.9 redundancy -> z-score -> LASSO (lambda.min,
5-fold CV) -> logistic regression on the selected features (the score = its linear predictor).
DL score: DenseNet-169 (``hccrisk.nets.deepfeatures``; trained on the training cohort, or user weights)
final pooling, 1664 per sequence -> per-sequence PCA -> LASSO -> logistic regression.
Clinical model: univariate logistic P < 0.05 -> multivariable (stepwise). Nomogram: logistic regression
on Rad score + DL score + the clinical model's predictors. The features (masks, radiomics, DenseNet inputs
and deep features, and how they share the cores) come from ``hccrisk.reproduce.chen2025_features``.

Everything that learns is fitted on the training cohort (7:3 split) only: the tests, the correlation
filter, z-scores, PCA, LASSO and its CV, the DenseNet, the logistic models, the Youden cut-offs.
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
from hccrisk.nets.deepfeatures import PCA_COMPONENTS, SEQUENCES
# the feature pieces, re-exported: ``chen2025.liver_features`` etc. is where docs and tests find them
from hccrisk.reproduce.chen2025_features import (PARAMS, RADIOMICS_SPACING_MM, deep_features, features_for,  # noqa: F401
                                                 liver_features, radiomics_params)
from hccrisk.reproduce.common import cohort_meta, labelled_patients, performance_row

log = get_logger(__name__)

PAPER = "chen2025"
ENDPOINT = "er_6m"  #: recurrence within 6 months of ablation
TRUE_RISK = "p_er_6m"
SPLIT_RATIO = (7, 3)  #: "randomly divided into the training and test sets at a ratio of 7:3"
TEST_P = 0.05
CORRELATION = 0.9
CLINICAL_CATEGORICAL = tuple(CATEGORICAL_CLINICAL)
#: Clinical candidates: the cohort's variables, AFP as its natural logarithm (the paper's LnAFP).
CLINICAL_CANDIDATES = tuple(c for c in NUMERIC_CLINICAL if c != "afp") + ("ln_afp",) + CLINICAL_CATEGORICAL
MODELS = ("Clinical", "Rad score", "DL score", "Nomogram")


@dataclass
class Chen2025Result:
    """Every number the report shows; ``predictions``: one row per patient (cohort, y, rad_score,
    dl_score, each model's probability, true risk on synthetic cohorts)."""

    seed: int
    baseline: pd.DataFrame
    baseline_outcome: pd.DataFrame
    rad_counts: pd.DataFrame
    rad_coefficients: pd.DataFrame
    dl_counts: pd.DataFrame
    dl_coefficients: pd.DataFrame
    clinical_univariate: pd.DataFrame
    clinical_multivariable: pd.DataFrame
    clinical_selected: tuple[str, ...]
    nomogram_table: pd.DataFrame
    nomogram_vif: pd.DataFrame
    performance: pd.DataFrame
    delong: pd.DataFrame
    predictions: pd.DataFrame
    nomogram: Any
    nomogram_predictors: tuple[str, ...] = ()
    true_risk_auc: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)


def split_patients(cohort: pd.DataFrame, seed: int = 0) -> tuple[list[str], list[str]]:
    """The 7:3 split (stratified on er_6m) of the labelled patients of ``cohort``: (training, validation)."""
    from hccrisk.models import split_cohort

    data = labelled_patients(cohort, ENDPOINT)
    split = split_cohort(data, ratio=SPLIT_RATIO, stratify=ENDPOINT, seed=seed)
    return list(split.train), list(split.validation)


def _rad_selection(seed: int) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from hccrisk.features import CorrelationFilter, LassoSelector, UnivariateTestFilter

    return Pipeline([
        # normality_alpha=1: no Shapiro-Wilk p exceeds 1, so every feature gets the Mann-Whitney U test (the paper's)
        ("test", UnivariateTestFilter(p=TEST_P, normality_alpha=1.0)),
        ("corr", CorrelationFilter(CORRELATION)),
        ("scale", StandardScaler()),
        ("lasso", LassoSelector(cv=5, rule="min", random_state=seed)),
    ]).set_output(transform="pandas")


def _score(selected_train: pd.DataFrame, y: np.ndarray, lasso: Any, name: str, notes: list[str]) -> tuple[Any, pd.DataFrame]:
    """Logistic regression on the LASSO-selected columns (the paper's score model): (score fn on selected
    columns, coefficient table). When maximum likelihood has no finite solution (separation) the LASSO's own
    linear predictor is the score, with a note."""
    from hccrisk.models.scores import LinearScore

    if selected_train.shape[1] == 0:
        notes.append(f"{name}: LASSO kept no feature; the score is constant (AUC 0.5).")
        return (lambda X: np.full(len(X), float(lasso.intercept_))), pd.DataFrame(columns=["feature", "coefficient"])
    try:
        lr = LinearScore(name=name).fit(selected_train, y)
        return lr.decision_function, pd.DataFrame({"feature": selected_train.columns, "coefficient": lr.coef_})
    except HccriskError as exc:
        notes.append(f"{name}: logistic regression on the {selected_train.shape[1]} LASSO features could not be fitted "
                     f"({exc}); the LASSO linear predictor is used instead.")
        coef = lasso.coef_[lasso.support_]
        return (lambda X: lasso.intercept_ + np.asarray(X, float) @ coef), \
            pd.DataFrame({"feature": selected_train.columns, "coefficient": coef})


def _rad_score(features: pd.DataFrame, train: list[str], y: np.ndarray, seed: int, notes: list[str]):
    sel = _rad_selection(seed)
    sel.fit(features.loc[train], y)
    test, corr, lasso = (sel.named_steps[k] for k in ("test", "corr", "lasso"))
    counts = pd.DataFrame({"step": ["extracted (complete in every patient)", f"Mann-Whitney U P < {TEST_P}",
                                    f"|r| <= {CORRELATION}", "LASSO (lambda.min, 5-fold CV)"],
                           "features": [features.shape[1], int(test.support_.sum()), int(corr.support_.sum()),
                                        int(lasso.support_.sum())]})
    score, coefs = _score(sel.transform(features.loc[train]), y, lasso, "rad_score", notes)
    coefs.insert(1, "sequence", coefs.feature.str.split("_").str[0])
    return (lambda rows: score(sel.transform(features.loc[rows]))), counts, coefs


def _dl_score(features: pd.DataFrame, train: list[str], y: np.ndarray, seed: int, notes: list[str]):
    from hccrisk.nets.deepfeatures import dl_score_pipeline

    sequences = [s for s in SEQUENCES if any(c.startswith(f"{s}_dl") for c in features.columns)]
    pipe = dl_score_pipeline(sequences, n_components=PCA_COMPONENTS, random_state=seed)
    reduce, lasso = pipe[:-1], pipe.named_steps["lasso"]
    reduce.fit(features.loc[train], y)
    pcs = pipe.named_steps["pca"].transform(features.loc[train])
    counts = pd.DataFrame({"step": ["deep features (DenseNet-169 final pooling)", f"PCA ({PCA_COMPONENTS} per sequence)",
                                    "LASSO (lambda.min, 5-fold CV)"],
                           "features": [features.shape[1], pcs.shape[1], int(lasso.support_.sum())]})
    score, coefs = _score(reduce.transform(features.loc[train]), y, lasso, "dl_score", notes)
    coefs.insert(1, "sequence", coefs.feature.str.split("__").str[0])
    return (lambda rows: score(reduce.transform(features.loc[rows]))), counts, coefs


def analyse(cohort: pd.DataFrame, radiomics: pd.DataFrame, deep: pd.DataFrame, seed: int = 0) -> Chen2025Result:
    """The chen2025 analysis on a cohort table (``load_cohort``), the whole-liver radiomics (patients x
    features, sequence-prefixed) and the deep features (``deep_feature_table``; the DenseNet must have been
    trained on ``split_patients(cohort, seed)[0]`` only). No I/O."""
    from hccrisk import stats
    from hccrisk.models import ClinicalModel, NomogramModel

    data = labelled_patients(cohort, ENDPOINT)
    data["ln_afp"] = np.log(data["afp"].clip(lower=0.1)) if "afp" in data else np.nan
    train_all, val_all = split_patients(cohort, seed)
    have = set(radiomics.index) & set(deep.index)
    train, val = [p for p in train_all if p in have], [p for p in val_all if p in have]
    if len(train) < 20 or len(val) < 5:
        raise InputError("cohort", f"{len(train)} training / {len(val)} validation patients have both radiomics and "
                                   "deep features; need >= 20 / 5")
    data = data.loc[train + val]
    radiomics = radiomics.loc[train + val].astype(float)
    radiomics = radiomics.loc[:, radiomics.notna().all()]  # a filter pyradiomics skipped for some case
    y_train, y_val = data.loc[train, ENDPOINT].to_numpy(), data.loc[val, ENDPOINT].to_numpy()
    label = pd.Series("training", index=data.index).where(data.index.isin(train), "validation")
    notes: list[str] = []
    if len(train) + len(val) < len(train_all) + len(val_all):
        notes.append(f"{len(train_all) + len(val_all) - len(train) - len(val)} labelled patients lack features.")

    cats = [c for c in CLINICAL_CATEGORICAL if c in data]
    variables = [c for c in NUMERIC_CLINICAL if c in data] + cats
    base = data.assign(cohort=label)
    baseline = stats.baseline_table(base, "cohort", variables=variables + [ENDPOINT], categorical=cats + [ENDPOINT])
    outcome = base.loc[train].assign(group=np.where(y_train == 1, "early recurrence", "no early recurrence"))
    baseline_outcome = stats.baseline_table(outcome, "group", variables=variables, categorical=cats)

    rad_fn, rad_counts, rad_coefs = _rad_score(radiomics, train, y_train, seed, notes)
    dl_fn, dl_counts, dl_coefs = _dl_score(deep.loc[train + val].astype(float), train, y_train, seed, notes)
    preds = pd.DataFrame({"cohort": label, "y": data[ENDPOINT]})
    for name, fn in (("rad_score", rad_fn), ("dl_score", dl_fn)):
        preds.loc[train, name], preds.loc[val, name] = fn(train), fn(val)
    preds["Rad score"], preds["DL score"] = 1 / (1 + np.exp(-preds["rad_score"])), 1 / (1 + np.exp(-preds["dl_score"]))

    clin_cols = [c for c in CLINICAL_CANDIDATES if c in data]
    clinical = ClinicalModel.from_paper(PAPER, candidates=clin_cols, categorical=cats).fit(data.loc[train], y_train)
    preds["Clinical"] = clinical.predict_proba(data)[:, 1]

    table = data.assign(rad_score=preds["rad_score"], dl_score=preds["dl_score"])
    predictors = ["rad_score", "dl_score"] + list(clinical.selected_)
    try:
        nomo = NomogramModel(predictors=predictors, categorical=[c for c in clinical.selected_ if c in cats],
                             missing="median").fit(table.loc[train], y_train)
        preds["Nomogram"] = nomo.predict_proba(table)[:, 1]
    except (HccriskError, ValueError) as exc:
        nomo = None
        notes.append(f"Nomogram not fitted ({exc}): a score probably separates the training outcomes perfectly.")
    models = [m for m in MODELS if m in preds]
    perf = []
    for m in models:
        perf += _with_predictive_values(performance_row(m, y_train, preds.loc[train, m].to_numpy(), y_val,
                                                        preds.loc[val, m].to_numpy()), preds, m, train, val)
    delong = []
    if nomo is not None:
        for cohort_name, rows, y in (("training", train, y_train), ("validation", val, y_val)):
            for other in [m for m in models if m != "Nomogram"]:
                t = stats.delong_test(y, preds.loc[rows, "Nomogram"], preds.loc[rows, other])
                delong.append({"cohort": cohort_name, "comparison": f"Nomogram vs {other}", "AUC a": t.auc_a,
                               "AUC b": t.auc_b, "z": t.z, "P": t.p_value})
    truth = None
    if TRUE_RISK in data:
        preds["true_risk"] = data[TRUE_RISK]
        t_tr, t_va = stats.auc_ci(y_train, data.loc[train, TRUE_RISK]), stats.auc_ci(y_val, data.loc[val, TRUE_RISK])
        truth = {"training": t_tr.auc, "validation": t_va.auc, "validation_low": t_va.low, "validation_high": t_va.high}
    return Chen2025Result(
        seed=seed, baseline=baseline, baseline_outcome=baseline_outcome, rad_counts=rad_counts,
        rad_coefficients=rad_coefs, dl_counts=dl_counts, dl_coefficients=dl_coefs,
        clinical_univariate=clinical.selection_.univariate, clinical_multivariable=clinical.selection_.multivariable,
        clinical_selected=tuple(clinical.selected_),
        nomogram_table=nomo.odds_ratio_table() if nomo is not None else pd.DataFrame(),
        nomogram_vif=nomo.selection_.vif if nomo is not None else pd.DataFrame(),
        performance=pd.DataFrame(perf), delong=pd.DataFrame(delong), predictions=preds,
        nomogram=nomo.to_nomogram() if nomo is not None else None, nomogram_predictors=tuple(predictors),
        true_risk_auc=truth, notes=notes)


def _with_predictive_values(rows: list[dict], preds: pd.DataFrame, model: str, train: list[str],
                            val: list[str]) -> list[dict]:
    """Add PPV and NPV (the paper's Table 3) at the same training Youden cut-off."""
    from hccrisk import stats

    for row, ids in zip(rows, (train, val)):
        dm = stats.diagnostic_metrics(preds.loc[ids, "y"].to_numpy(), preds.loc[ids, model].to_numpy(),
                                      row["cut-off (training Youden)"])
        row["PPV"], row["NPV"] = dm.ppv.estimate, dm.npv.estimate
    return rows


def run(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None, seed: int = 0,
        workers: int | None = None, **options: Any) -> Path:
    """``hccrisk reproduce chen2025``: features (cached), analysis, report. ``options`` go to
    ``features_for`` (spacing_mm, densenet_weights, epochs, size, threads). Returns report.html's path."""
    from hccrisk.reproduce.chen2025_report import write_chen2025_report

    t0 = time.perf_counter()
    radiomics, deep, failures, info = features_for(cohort_dir, out_dir, ingest_dir, workers, seed, **options)
    cohort = load_cohort(cohort_dir, with_truth=(Path(cohort_dir) / "truth.csv").is_file())
    t1 = time.perf_counter()
    result = analyse(cohort, radiomics, deep, seed=seed)
    info["seconds"]["analysis"] = round(time.perf_counter() - t1, 1)
    path = write_chen2025_report(result, out_dir, cohort_dir, cohort_meta(Path(cohort_dir)), failures, info,
                                 time.perf_counter() - t0)
    log.info("chen2025 report written to %s", path)
    return path
