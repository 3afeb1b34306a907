"""The HTML report of a reproduction (``hccrisk.report.html.Report``): tables as in the paper, figures
with their numbers in figures.json, seed, versions and parameter files in provenance.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from hccrisk.report.html import Report


#: Axis titles of nomogram predictors (units as in clinical.csv, docs/architecture.md).
NOMOGRAM_LABELS = {"rad_score": "Rad score", "tumour_size": "Tumour size (cm)", "log10_afp": "log10 AFP (ng/mL)",
                   "ast": "AST (U/L)", "alt": "ALT (U/L)", "ggt": "GGT (U/L)", "alb": "ALB (g/L)",
                   "tbil": "TBIL (umol/L)", "plt": "PLT (10^9/L)", "age": "Age (y)"}


def binary_figures(report: Report, preds: pd.DataFrame, models: list[str], stem: str, what: str) -> None:
    """ROC, calibration and decision curves of ``models`` (columns of ``preds``), training and validation panels."""
    from hccrisk.report import figures

    cohorts = preds["cohort"].str.capitalize().to_numpy()
    pairs = {m: (preds["y"].to_numpy(), preds[m].to_numpy()) for m in models}
    fig, numbers = figures.roc_figure(pairs, cohorts=cohorts)
    report.figure(f"roc_{stem}", fig, numbers, caption=f"ROC curves of {what} (DeLong 95% CI in the legend).")
    fig, numbers = figures.calibration_figure(pairs, cohorts=cohorts)
    report.figure(f"calibration_{stem}", fig, numbers,
                  caption=f"Calibration of {what}: observed vs predicted by decile, Hosmer-Lemeshow P in the legend.")
    fig, numbers = figures.decision_figure(pairs, cohorts=cohorts)
    report.figure(f"decision_{stem}", fig, numbers, caption=f"Decision curves of {what} (net benefit vs threshold).")


def performance_wide(perf: pd.DataFrame) -> pd.DataFrame:
    """One row per model and cohort, AUC as 'auc (low-high)' plus the operating point at the training cut-off."""
    out = perf.copy()
    out.insert(4, "AUC (95% CI)", [f"{a:.3f} ({lo:.3f}-{hi:.3f})" for a, lo, hi in
                                   zip(out["AUC"], out["AUC low"], out["AUC high"])])
    return out.drop(columns=["AUC", "AUC low", "AUC high"])


def readable_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """baseline_table for the page: the variable name once per block, missing counts as integers."""
    out = table.copy()
    for col in [c for c in out.columns if str(c).startswith("missing")]:
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else str(int(v)))
    if "level" in out:
        is_level = out["level"].astype(str).str.len() > 0
        out.loc[is_level & out["level"].notna(), "variable"] = ""
    return out


def _csv_only(report: Report, name: str, df: pd.DataFrame, what: str) -> None:
    """Long tables (one row per feature or per lambda) go to CSV only; the page says where."""
    df.to_csv(report.out_dir / "tables" / f"{name}.csv", index=False)
    report.paragraph(f"{what}: tables/{name}.csv ({len(df)} rows).")


def write_zhao2024_report(result: Any, out_dir: str | Path, cohort_dir: str | Path, meta: Mapping[str, Any],
                          failures: pd.DataFrame, seconds: float) -> Path:
    """Write ``out_dir/report.html`` (+ tables/, figures/, figures.json, provenance.json)."""
    from hccrisk.radiomics.parameters import resolve_params  # the parameter file, recorded with its hash
    from hccrisk.report import figures
    from hccrisk.reproduce.zhao2024 import PARAMS, PHASES, SPLIT_RATIO

    report = Report("zhao2024 reproduction: radiomics, deep-learning, clinical and combined models of early recurrence",
                    Path(out_dir), seed=result.seed, parameter_files=[resolve_params(PARAMS)])
    preds = result.predictions
    n_train, n_val = int((preds.cohort == "training").sum()), int((preds.cohort == "validation").sum())
    report.record("cohort", {"path": str(cohort_dir), **{k: meta.get(k) for k in ("n_patients", "seed", "signal", "modality")}})
    report.record("split", {"ratio": list(SPLIT_RATIO), "seed": result.seed, "training": n_train, "validation": n_val,
                            "training_ids": list(preds.index[preds.cohort == "training"]),
                            "validation_ids": list(preds.index[preds.cohort == "validation"])})
    report.record("wall_seconds", round(seconds, 1))
    if result.true_risk_auc:
        report.record("true_risk_auc", result.true_risk_auc)

    report.section("Study", (
        f"Zhao et al. 2024 (Front. Oncol. 14:1446386). Endpoint: early recurrence within 2 years "
        f"(er_2y); patients censored before 2 years without recurrence are excluded, as in the paper. "
        f"{n_train + n_val} patients, split {SPLIT_RATIO[0]}:{SPLIT_RATIO[1]} at random (stratified by outcome, "
        f"seed {result.seed}): {n_train} training, {n_val} validation. Radiomics: pyradiomics, parameter file "
        f"{PARAMS} per phase ({', '.join(PHASES)}), on the largest tumour's VOI in the ingested (1 mm, "
        f"registered to AP) space. Every selection step and model is fitted on the training cohort only."))
    if meta:
        report.paragraph(f"Synthetic cohort: seed {meta.get('seed')}, planted signal {meta.get('signal')}, "
                         f"{meta.get('n_patients')} patients.")
    if len(failures):
        report.note(f"{len(failures)} patients/extractions failed and were left out (tables/failures.csv).")
        report.table("failures", failures, caption="Failures")
    if n_val < 30:
        report.note(f"The validation cohort has {n_val} patients: its AUCs move in steps of "
                    f"1/(events x non-events) and their CIs are wide; judge the models on a larger cohort.")

    report.section("Baseline characteristics")
    report.table("baseline", readable_baseline(result.baseline), caption="Table 1. Training vs validation cohort (mean ± SD or "
                 "median (IQR) by normality; test named per row)")

    report.section("Radiomics feature selection")
    report.table("selection_counts", result.selection_counts, caption="Features left after each step (training cohort)")
    report.table("selected_features", result.lasso_coefficients, digits=4,
                 caption="Features selected by LASSO with their coefficients (z-scored features)")
    best = result.lasso_cv.loc[result.lasso_cv.cv_mean.idxmin()]
    report.paragraph(f"LASSO: minimum 5-fold CV binomial deviance {best['cv_mean']:.3f} at lambda = {best['lambda']:.4g} ("
                     f"{int(best['n_nonzero'])} features).")
    _csv_only(report, "lasso_cv", result.lasso_cv, "The cross-validation curve (deviance per lambda)")
    _csv_only(report, "icc", result.icc, "ICC(2,1) per feature, observer 1 vs observer 2 on the training patients "
              "of the reproducibility subset")

    report.section("Radiomics models: five classifiers")
    report.table("classifiers", result.classifiers, caption="AUC (DeLong 95% CI) in training and validation; "
                 "unpaired DeLong test training vs validation (a small P flags overfitting)")
    binary_figures(report, preds, [f"Rad-{m}" for m in ("LR", "SVM", "kNN", "XGBoost", "MLP")],
                    "classifiers", "the five radiomics classifiers")

    report.section("Clinical-radiological (CR) model",
                   "Univariate logistic regression (P < 0.05 to enter), then multivariable stepwise (P < 0.05 to "
                   "stay), in the training cohort. AFP enters as log10(AFP).")
    report.table("clinical_univariate", result.clinical_univariate, caption="Table 3a. Univariate analysis")
    report.table("clinical_multivariable", result.clinical_multivariable, caption="Table 3b. Multivariable analysis")
    if not result.clinical_selected:
        report.note("No clinical variable reached P < 0.05: the CR model is the intercept only (AUC 0.5).")

    report.section("Combined (RCR) model and nomogram",
                   "Logistic regression on the Rad score (the LASSO linear predictor) and the CR model's predictors.")
    for note in result.notes:
        report.note(note)
    if result.nomogram is not None:
        report.table("rcr_model", result.rcr_table, caption="RCR model: odds ratios")
        labels = {name: NOMOGRAM_LABELS.get(name, name.replace("_", " ").capitalize())
                  for name in result.nomogram_predictors}
        fig, numbers = figures.nomogram_figure(result.nomogram, labels=labels)
        report.figure("nomogram", fig, numbers, caption="Nomogram of the RCR model (probability of early recurrence)")

    report.section("Model performance")
    report.table("performance", performance_wide(result.performance),
                 caption="Table 4. AUC (DeLong 95% CI); sensitivity, specificity and accuracy at the Youden cut-off "
                 "chosen in the training cohort and applied unchanged to validation")
    report.table("delong", result.delong, caption="Paired DeLong tests between models")
    models = [m for m in ("Rad-LR", "CR", "RCR") if m in preds]
    binary_figures(report, preds, models, "models", "the radiomics (LR), CR and RCR models")
    from hccrisk.reproduce.zhao2024_report import deep_sections, shap_section

    deep_sections(report, result, binary_figures)
    shap_section(report, result)
    if result.true_risk_auc:
        t = result.true_risk_auc
        report.section("Best achievable (synthetic truth)",
                       f"AUC of the true 2-year risk (truth.csv p_er_2y) on the same patients: training "
                       f"{t['training']:.3f}, validation {t['validation']:.3f} (95% CI {t['validation_low']:.3f}-"
                       f"{t['validation_high']:.3f}). A model can at best approach it.")
    preds.to_csv(report.out_dir / "tables" / "predictions.csv")  # per patient: too long for the page
    report.paragraph("Per-patient predictions of every model: tables/predictions.csv.")
    return report.write()
