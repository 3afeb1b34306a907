"""zhao2024 (seed 002), radiomics arm: contrast MRI radiomics per phase (AP, PVP, DP) on the largest
tumour's VOI -> ICC > 0.90 between two observers -> t-test / Mann-Whitney U (P < 0.05) -> |r| > 0.9
redundancy filter -> LASSO (5-fold CV) -> five classifiers (LR, SVM, kNN, XGBoost, MLP); clinical (CR)
model: univariate logistic P < 0.05 -> multivariable; RCR model: Rad score + CR predictors (nomogram).

Everything that learns is fitted on the training cohort only: the z-scoring, the ICC (observer2's
subset restricted to training patients), the tests, the correlation filter, LASSO and its CV, the
classifiers, the clinical selection, the Youden cut-offs. The deep-learning arms (ResNet-10/18/34,
DLRCR: ``hccrisk.reproduce.zhao2024_dl``) train on the same training cohort, early-stopped on an inner
part of it. SHAP values of the Rad score and the RCR model explain the score models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hccrisk.cohort import CATEGORICAL_CLINICAL, NUMERIC_CLINICAL, load_cohort
from hccrisk.errors import InputError
from hccrisk.log import get_logger
from hccrisk.reproduce.common import (ER_ENDPOINT, cohort_meta, ensure_ingested, extract_phase_features,
                                      ingested_tumour_masks, labelled_patients, performance_row, resolve_paths)

log = get_logger(__name__)

PAPER = "zhao2024"
PHASES = ("AP", "PVP", "DP")
PARAMS = "zhao2024_mri"
#: The paper: 165 patients "randomly divided at a ratio of 8:2" (132 training, 33 validation).
SPLIT_RATIO = (8, 2)
ICC_THRESHOLD = 0.90
TEST_P = 0.05
CORRELATION = 0.9
#: Clinical candidates: the cohort's clinical variables, AFP on the log10 scale (it spans decades).
CLINICAL_CATEGORICAL = tuple(c for c in CATEGORICAL_CLINICAL)
CLINICAL_CANDIDATES = tuple(c for c in NUMERIC_CLINICAL if c != "afp") + ("log10_afp",) + CLINICAL_CATEGORICAL
MODEL_LABELS = {"lr": "LR", "svm": "SVM", "knn": "kNN", "xgboost": "XGBoost", "mlp": "MLP"}


@dataclass
class Zhao2024Result:
    """Every number the report shows. ``predictions``: one row per patient (cohort, y, each model's
    probability, rad_score); tables are DataFrames ready to print."""

    seed: int
    split_tries: int
    baseline: pd.DataFrame
    icc: pd.DataFrame
    selection_counts: pd.DataFrame
    lasso_coefficients: pd.DataFrame
    lasso_cv: pd.DataFrame
    classifiers: pd.DataFrame
    clinical_univariate: pd.DataFrame
    clinical_multivariable: pd.DataFrame
    clinical_selected: tuple[str, ...]
    rcr_table: pd.DataFrame
    performance: pd.DataFrame
    delong: pd.DataFrame
    predictions: pd.DataFrame
    nomogram: Any
    nomogram_predictors: tuple[str, ...] = ()
    true_risk_auc: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    deep: Any = None  #: ``zhao2024_dl.DeepArms`` when the DL arms ran
    shap: dict[str, Any] = field(default_factory=dict)  #: model -> (SHAP values, feature values) DataFrames


def _selection_pipeline(obs1: pd.DataFrame, obs2: pd.DataFrame, seed: int) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from hccrisk.features import CorrelationFilter, ICCFilter, LassoSelector, UnivariateTestFilter

    return Pipeline([
        ("scale", StandardScaler()),
        ("icc", ICCFilter(obs1, obs2, threshold=ICC_THRESHOLD)),
        ("test", UnivariateTestFilter(p=TEST_P)),
        ("corr", CorrelationFilter(CORRELATION)),
        ("lasso", LassoSelector(cv=5, rule="min", random_state=seed)),
    ]).set_output(transform="pandas")


def _fit_selection(selector: Any, X: pd.DataFrame, y: np.ndarray) -> Any:
    """Fit the selection pipeline; a clear InputError when a filter leaves no feature (without signal the
    univariate test can pass none of thousands of correlated features), not the next step's crash."""
    from hccrisk.features._validation import EstimatorInputError

    try:
        return selector.fit(X, y)
    except EstimatorInputError as exc:
        counts = []
        for name, step in selector.steps[1:-1]:
            support = getattr(step, "support_", None)
            if support is not None:
                counts.append(f"{name}: {int(np.sum(support))}")
        raise InputError("radiomics features", f"the selection left no feature to model on {len(X)} training "
                         f"patients ({', '.join(counts) or exc}); no radiomics model can be fitted") from None


def _fit_rcr(table: pd.DataFrame, y: np.ndarray, predictors: list[str], categorical: list[str],
             notes: list[str]) -> Any:
    """The RCR logistic model, or None (with a note) when maximum likelihood has no finite solution:
    a Rad score that separates the training outcomes perfectly (LASSO overfitting a small cohort)."""
    from hccrisk.errors import HccriskError
    from hccrisk.models import NomogramModel

    try:
        rcr = NomogramModel(predictors=predictors, categorical=categorical, missing="median").fit(table, y)
    except (HccriskError, KeyError, ValueError) as exc:
        rcr = None
        reason = str(exc)
    else:
        if "rad_score" in rcr.params_:
            return rcr
        reason = "the Rad score could not be fitted"
    notes.append(f"RCR model not fitted ({reason}): the Rad score probably separates the training outcomes "
                 "perfectly, so maximum likelihood has no finite estimate.")
    return None


def analyse(cohort: pd.DataFrame, features: pd.DataFrame, observer2: pd.DataFrame, seed: int = 0,
            dl_inputs: Mapping[str, np.ndarray] | None = None, dl_depths: Sequence[str] | None = None,
            dl_config: Any = None, progress: bool = False, workers: int | None = None) -> Zhao2024Result:
    """The zhao2024 analysis on a cohort table (``load_cohort``), observer1's features (patients x
    features, phase-prefixed) and observer2's features of the reproducibility subset (same columns).

    ``dl_inputs`` ({patient: (9, S, S)} from ``zhao2024_dl.mri_inputs_for``) adds the DL arms (ResNet
    ``dl_depths``, default all three, and DLRCR; ``dl_config`` a ``TrainConfig``, default ``ZHAO_CONFIG``);
    patients without an input are then left out of every model, so that all are compared on the same
    patients. The ResNets train on ``workers`` processes (None: all cores) while the radiomics arm is
    fitted here; each training is single-threaded and seeded, so ``workers`` changes no number.
    ``progress`` is kept for callers; the trainings always show a bar."""
    from hccrisk.models import split_cohort

    data = labelled_patients(cohort)
    ids = [p for p in data.index if p in features.index and (dl_inputs is None or p in dl_inputs)]
    if len(ids) < 20:
        raise InputError("cohort", f"only {len(ids)} labelled patients have radiomics features; need >= 20")
    data = data.loc[ids]
    features = features.loc[ids].astype(float)
    if features.isna().any().any():  # a filter pyradiomics skipped for some case: not usable across patients
        features = features.loc[:, features.notna().all()]
    split = split_cohort(data, ratio=SPLIT_RATIO, stratify=ER_ENDPOINT, seed=seed)
    train, val = list(split.train), list(split.validation)
    y_train, y_val = data.loc[train, ER_ENDPOINT].to_numpy(), data.loc[val, ER_ENDPOINT].to_numpy()
    cohort_label = pd.Series("training", index=data.index).where(data.index.isin(train), "validation")
    resnets = None
    if dl_inputs is not None:  # they need only the split: trained on other cores during the radiomics arm
        from hccrisk.reproduce import zhao2024_dl

        kwargs = {k: v for k, v in (("depths", dl_depths), ("config", dl_config)) if v is not None}
        resnets = zhao2024_dl.start_resnets(dl_inputs, data, ER_ENDPOINT, train, seed, workers=workers, **kwargs)
    try:
        return _analyse(data, features, observer2, seed, split, train, val, y_train, y_val, cohort_label, resnets)
    finally:
        if resnets is not None:
            resnets.cancel()


def _analyse(data: pd.DataFrame, features: pd.DataFrame, observer2: pd.DataFrame, seed: int, split: Any,
             train: list[str], val: list[str], y_train: np.ndarray, y_val: np.ndarray, cohort_label: pd.Series,
             resnets: Any) -> Zhao2024Result:
    """``analyse`` after the split: the radiomics arm, CR, RCR, then the DL arms of ``resnets`` (a
    ``zhao2024_dl.PendingArms`` started by ``analyse``, or None)."""
    from hccrisk import stats
    from hccrisk.models import ClinicalModel, make_classifier

    base = data.assign(cohort=cohort_label)
    cats = [c for c in CLINICAL_CATEGORICAL if c in base]
    variables = [c for c in NUMERIC_CLINICAL if c in base] + cats + [ER_ENDPOINT]
    baseline = stats.baseline_table(base, "cohort", variables=variables, categorical=cats + [ER_ENDPOINT])

    # Reproducibility subset: observer2's patients in the training cohort only.
    icc_ids = [p for p in observer2.index if p in set(train)]
    if len(icc_ids) < 5:
        raise InputError("rois/observer2", f"only {len(icc_ids)} training patients have a second observer's ROI")
    obs2 = observer2.loc[icc_ids].reindex(columns=features.columns).astype(float)
    features = features.loc[:, obs2.notna().all()]  # no second reading, no proof of reproducibility
    obs2 = obs2[features.columns]
    selector = _fit_selection(_selection_pipeline(features.loc[icc_ids], obs2, seed), features.loc[train], y_train)
    icc_step, test_step, corr_step, lasso = (selector.named_steps[k] for k in ("icc", "test", "corr", "lasso"))
    counts = pd.DataFrame({
        "step": ["extracted (complete for both observers)", f"ICC > {ICC_THRESHOLD}", f"t-test / Mann-Whitney P < {TEST_P}",
                 f"|r| <= {CORRELATION}", "LASSO (lambda.min, 5-fold CV)"],
        "features": [features.shape[1], int(icc_step.support_.sum()), int(test_step.support_.sum()),
                     int(corr_step.support_.sum()), int(lasso.support_.sum())]})
    names_in = corr_step.get_feature_names_out()
    coefs = pd.DataFrame({"feature": names_in, "coefficient": lasso.coef_})
    coefs = coefs[coefs.coefficient != 0].reindex(coefs.coefficient.abs().sort_values(ascending=False).index).dropna()
    coefs["phase"] = coefs.feature.str.split("_").str[0]

    def rad_score(rows: list[str]) -> np.ndarray:
        z = selector[:-1].transform(features.loc[rows])
        return lasso.intercept_ + z.to_numpy() @ lasso.coef_

    z_train, z_val = selector.transform(features.loc[train]), selector.transform(features.loc[val])
    preds = pd.DataFrame({"cohort": cohort_label, "y": data[ER_ENDPOINT]})
    preds.loc[train, "rad_score"], preds.loc[val, "rad_score"] = rad_score(train), rad_score(val)
    classifier_rows, perf_rows = [], []
    for name, label in MODEL_LABELS.items():
        clf = make_classifier(name, random_state=seed).fit(z_train, y_train)
        p_tr, p_va = clf.predict_proba(z_train)[:, 1], clf.predict_proba(z_val)[:, 1]
        preds.loc[train, f"Rad-{label}"], preds.loc[val, f"Rad-{label}"] = p_tr, p_va
        a_tr, a_va = stats.auc_ci(y_train, p_tr), stats.auc_ci(y_val, p_va)
        classifier_rows.append({"classifier": label, "AUC training": a_tr.auc, "training low": a_tr.low,
                                "training high": a_tr.high, "AUC validation": a_va.auc,
                                "validation low": a_va.low, "validation high": a_va.high,
                                "DeLong P (training vs validation)":
                                    stats.delong_unpaired(y_train, p_tr, y_val, p_va).p_value})
        perf_rows += performance_row(f"Rad-{label}", y_train, p_tr, y_val, p_va)

    clin_cols = [c for c in CLINICAL_CANDIDATES if c in data]
    clinical = ClinicalModel.from_paper(PAPER, candidates=clin_cols, categorical=cats).fit(data.loc[train], y_train)
    preds.loc[train, "CR"] = clinical.predict_proba(data.loc[train])[:, 1]
    preds.loc[val, "CR"] = clinical.predict_proba(data.loc[val])[:, 1]
    perf_rows += performance_row("CR", y_train, preds.loc[train, "CR"].to_numpy(), y_val, preds.loc[val, "CR"].to_numpy())

    table = data.assign(rad_score=preds["rad_score"])
    predictors = ["rad_score"] + list(clinical.selected_)
    notes: list[str] = []
    rcr = _fit_rcr(table.loc[train], y_train, predictors, [c for c in clinical.selected_ if c in cats], notes)
    if rcr is not None:
        preds.loc[train, "RCR"] = rcr.predict_proba(table.loc[train])[:, 1]
        preds.loc[val, "RCR"] = rcr.predict_proba(table.loc[val])[:, 1]
        perf_rows += performance_row("RCR", y_train, preds.loc[train, "RCR"].to_numpy(), y_val,
                                     preds.loc[val, "RCR"].to_numpy())
    compared = (("RCR", "CR"), ("RCR", "Rad-LR"), ("Rad-LR", "CR")) if rcr is not None else (("Rad-LR", "CR"),)

    deep = None
    if resnets is not None:
        from hccrisk.reproduce import zhao2024_dl

        # The selected radiomics features enter as their LASSO combination (the Rad score), as in RCR: fused one by
        # one (17 on the default cohort) they overfit ~70 patients (validation AUC 0.69 vs RCR's 0.87, P 0.02).
        tabular = zhao2024_dl.dlrcr_tabular(preds[["rad_score"]], data, ["rad_score"], clinical.selected_, cats)
        dl_perf, deep = zhao2024_dl.deep_arms(resnets, data, ER_ENDPOINT, train, val, tabular, preds)
        perf_rows += dl_perf

    delong_rows = []
    for cohort_name, rows, y in (("training", train, y_train), ("validation", val, y_val)):
        for a, b in compared:
            t = stats.delong_test(y, preds.loc[rows, a], preds.loc[rows, b])
            delong_rows.append({"cohort": cohort_name, "comparison": f"{a} vs {b}", "AUC a": t.auc_a,
                                "AUC b": t.auc_b, "z": t.z, "P": t.p_value})
    if deep is not None:
        from hccrisk.reproduce.zhao2024_dl import delong_rows as dl_delong

        delong_rows += dl_delong(preds, {"training": (train, y_train), "validation": (val, y_val)})
    shap = _score_shap(selector, lasso, features, train, rcr, table)

    truth = None
    if "p_er_2y" in data:
        t_tr, t_va = stats.auc_ci(y_train, data.loc[train, "p_er_2y"]), stats.auc_ci(y_val, data.loc[val, "p_er_2y"])
        preds["true_risk"] = data["p_er_2y"]
        truth = {"training": t_tr.auc, "validation": t_va.auc, "validation_low": t_va.low, "validation_high": t_va.high}
    return Zhao2024Result(
        seed=seed, split_tries=split.tries, baseline=baseline, icc=icc_step.icc_.reset_index(),
        selection_counts=counts, lasso_coefficients=coefs[["feature", "phase", "coefficient"]],
        lasso_cv=lasso.cv_table(), classifiers=pd.DataFrame(classifier_rows),
        clinical_univariate=clinical.selection_.univariate, clinical_multivariable=clinical.selection_.multivariable,
        clinical_selected=tuple(clinical.selected_),
        rcr_table=rcr.odds_ratio_table() if rcr is not None else pd.DataFrame(),
        performance=pd.DataFrame(perf_rows), delong=pd.DataFrame(delong_rows), predictions=preds,
        nomogram=rcr.to_nomogram() if rcr is not None else None, nomogram_predictors=tuple(predictors),
        true_risk_auc=truth, notes=notes, deep=deep, shap=shap)


def _score_shap(selector: Any, lasso: Any, features: pd.DataFrame, train: list[str], rcr: Any,
                table: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Exact SHAP values (log-odds) of the linear score models for every patient, the training cohort as
    background: the Rad score on its z-scored LASSO features, the RCR model on its terms."""
    from hccrisk.report.figures.shap import linear_shap, logit_terms

    out = {}
    coef = pd.Series(lasso.coef_, index=selector[:-1].get_feature_names_out())
    coef = coef[coef != 0]
    if len(coef):
        z = selector[:-1].transform(features)[coef.index]
        out["Rad score"] = (linear_shap(coef, z, z.loc[train]), z)
    if rcr is not None:
        terms = logit_terms(rcr, table)
        beta = rcr.params_.drop("const")
        out["RCR"] = (linear_shap(beta, terms, terms.loc[train]), terms)
    return out


def features_for(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None,
                 workers: int | None = None, patients: Sequence[str] | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ingest (unless given), map both observers' tumour VOIs to the ingested grid, extract radiomics
    (cached), all on ``workers`` processes (None: all cores). ``patients``: only these (default: every
    patient of the cohort; ``run`` passes those with a known endpoint, the only ones ``analyse`` uses).
    Returns (observer1 features, observer2 features, failures)."""
    from hccrisk.reproduce.zhao2024_parallel import tumour_masks

    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    ensure_ingested(paths, workers)
    ids = list(load_cohort(paths.cohort).index) if patients is None else list(patients)
    obs2_dir = paths.cohort / "rois" / "observer2"
    ids2 = [p for p in ids if (obs2_dir / p).is_dir()]
    masks = tumour_masks(paths, {"observer1": ids, "observer2": ids2}, PHASES, workers)
    (masks1, fail1), (masks2, fail2) = masks["observer1"], masks["observer2"]
    f1, x1 = extract_phase_features(paths, masks1, PARAMS, workers)
    f2, x2 = extract_phase_features(paths, masks2, PARAMS, workers)
    failures = pd.concat([pd.DataFrame(fail1 + fail2),
                          x1.assign(observer="observer1"), x2.assign(observer="observer2")], ignore_index=True)
    return f1, f2, failures


def run(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None, seed: int = 0,
        workers: int | None = None, deep: bool = True, dl_size: int | None = None) -> Path:
    """``hccrisk reproduce zhao2024``: features (cached), analysis, report. Returns report.html's path.

    ``deep``: also train the DL arms (ResNet-10/18/34, DLRCR) on ``dl_size`` px inputs (default
    ``hccrisk.nets.resnet_train.CPU_SIZE``; the paper's 256 on a GPU)."""
    from hccrisk.reproduce.report import write_zhao2024_report

    t0 = time.perf_counter()
    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    cohort = load_cohort(cohort_dir, with_truth=(Path(cohort_dir) / "truth.csv").is_file())
    labelled = list(labelled_patients(cohort).index)  # the others enter no model: no features for them
    f1, f2, failures = features_for(cohort_dir, out_dir, ingest_dir, workers, patients=labelled)
    inputs = None
    if deep:
        from hccrisk.nets.resnet_train import CPU_SIZE
        from hccrisk.reproduce.zhao2024_dl import mri_inputs_for

        masks, _ = ingested_tumour_masks(paths, list(f1.index), "observer1", ("AP",))  # mapped above: cached
        inputs, dl_failures = mri_inputs_for(paths, masks, dl_size or CPU_SIZE, workers=workers)
        failures = pd.concat([failures, dl_failures], ignore_index=True)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the trainings run single-threaded anyway; Score-CAM likewise, reproducibly
    try:
        result = analyse(cohort, f1, f2, seed=seed, dl_inputs=inputs, progress=True, workers=workers)
    finally:
        torch.set_num_threads(threads)
    meta = cohort_meta(Path(cohort_dir))
    path = write_zhao2024_report(result, out_dir, cohort_dir, meta, failures, time.perf_counter() - t0)
    log.info("zhao2024 report written to %s", path)
    return path
