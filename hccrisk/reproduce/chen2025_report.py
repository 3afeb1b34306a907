"""The chen2025 report: the paper's tables (baseline, uni/multivariable clinical analysis, selected
radiomics and DL features with coefficients, performance with AUC CI, DeLong) and figures (ROC,
calibration with Hosmer-Lemeshow, decision curves, nomogram), built like zhao2024's."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from hccrisk.report.html import Report
from hccrisk.reproduce.report import (NOMOGRAM_LABELS, binary_figures, performance_wide,
                                      readable_baseline)

LABELS = {**NOMOGRAM_LABELS, "dl_score": "DL score", "ln_afp": "ln AFP (ng/mL)"}


def write_chen2025_report(result: Any, out_dir: str | Path, cohort_dir: str | Path, meta: Mapping[str, Any],
                          failures: pd.DataFrame, info: Mapping[str, Any], seconds: float) -> Path:
    """Write ``out_dir/report.html`` (+ tables/, figures/, figures.json, provenance.json)."""
    from hccrisk.report import figures
    from hccrisk.reproduce.chen2025 import ENDPOINT, MODELS, SPLIT_RATIO

    params = Path(info["radiomics_params"])
    report = Report("chen2025 reproduction: DL score, Rad score, clinical model and nomogram of recurrence within "
                    "6 months", Path(out_dir), seed=result.seed, parameter_files=[params])
    preds = result.predictions
    train_ids, val_ids = list(preds.index[preds.cohort == "training"]), list(preds.index[preds.cohort == "validation"])
    report.record("cohort", {"path": str(cohort_dir), **{k: meta.get(k) for k in ("n_patients", "seed", "signal", "modality")}})
    report.record("split", {"ratio": list(SPLIT_RATIO), "seed": result.seed, "training": len(train_ids),
                            "validation": len(val_ids), "training_ids": train_ids, "validation_ids": val_ids})
    report.record("features", {k: v for k, v in info.items() if k != "cam"})
    report.record("wall_seconds", round(seconds, 1))
    if result.true_risk_auc:
        report.record("true_risk_auc", result.true_risk_auc)

    dn = info["densenet"]
    report.section("Study", (
        f"Chen et al. 2025, MRI deep-learning and radiomics nomogram. Endpoint: recurrence within 6 months of "
        f"treatment ({ENDPOINT}). {len(train_ids) + len(val_ids)} patients split {SPLIT_RATIO[0]}:{SPLIT_RATIO[1]} at "
        f"random (stratified by outcome, seed {result.seed}): {len(train_ids)} training, {len(val_ids)} validation. "
        f"Radiomics: pyradiomics, {params.name} (bin width 5, resampled to {info['radiomics_spacing_mm']:g} mm), "
        f"whole-liver ROI of T2WI, AP, PVP, DP. Deep features: DenseNet-169 final pooling (1664 per sequence) on "
        f"the 3 max-area liver slices at {info['input_shape'][-1]} px, "
        + (f"trained {dn['epochs']} epochs on the training cohort only" if dn.get("epochs") else "user-supplied weights")
        + (f" from {dn['weights']}" if dn.get("weights") and dn.get("epochs") else "")
        + ". Every selection step and model is fitted on the training cohort only."))
    if meta:
        report.paragraph(f"Synthetic cohort: seed {meta.get('seed')}, planted signal {meta.get('signal')}, "
                         f"{meta.get('n_patients')} patients.")
    if len(failures):
        report.note(f"{len(failures)} patients/extractions failed and were left out (tables/failures.csv).")
        report.table("failures", failures, caption="Failures")
    for note in result.notes:
        report.note(note)

    report.section("Baseline characteristics")
    report.table("baseline", readable_baseline(result.baseline),
                 caption="Table 1a. Training vs validation cohort (mean ± SD or median (IQR) by normality; test per row)")
    report.table("baseline_outcome", readable_baseline(result.baseline_outcome),
                 caption="Table 1b. Training cohort: early recurrence within 6 months vs none")

    report.section("Clinical model", "Univariate logistic regression (P < 0.05 to enter), then multivariable "
                   "stepwise (P < 0.05 to stay), in the training cohort. AFP enters as ln(AFP) (the paper's LnAFP).")
    report.table("clinical_univariate", result.clinical_univariate, caption="Table 2a. Univariate analysis")
    report.table("clinical_multivariable", result.clinical_multivariable, caption="Table 2b. Multivariable analysis")
    if not result.clinical_selected:
        report.note("No clinical variable reached P < 0.05: the clinical model is the intercept only (AUC 0.5).")

    report.section("Rad score and DL score")
    report.table("rad_selection", result.rad_counts, caption="Radiomics features left after each step (training cohort)")
    report.table("rad_features", result.rad_coefficients, digits=4,
                 caption="Rad score: selected features and their logistic-regression coefficients (z-scored features)")
    report.table("dl_selection", result.dl_counts, caption="Deep features left after each step (training cohort)")
    report.table("dl_features", result.dl_coefficients, digits=4,
                 caption="DL score: selected principal components (sequence__pcK) and their coefficients")

    report.section("DL-Rad-Clinical nomogram", "Logistic regression on the Rad score, the DL score (both log-odds) "
                   "and the clinical model's predictors.")
    if result.nomogram is not None:
        report.table("nomogram_model", result.nomogram_table, caption="Nomogram: odds ratios (95% CI)")
        report.table("nomogram_vif", result.nomogram_vif, caption="Collinearity: variance inflation factors")
        labels = {n: LABELS.get(n, n.replace("_", " ").capitalize()) for n in result.nomogram_predictors}
        fig, numbers = figures.nomogram_figure(result.nomogram, labels=labels)
        report.figure("nomogram", fig, numbers, caption="DL-Rad-Clinical nomogram (probability of recurrence within 6 months)")

    cam = info.get("cam")
    if cam is not None and len(cam["titles"]):
        from hccrisk.nets.deepfeatures import cam_figure

        fig = cam_figure(cam["images"], cam["maps"], cam["titles"])
        report.figure("gradcam", fig, {"patients": cam["titles"]},
                      caption="Grad-CAM of the DenseNet (class: recurrence) on the middle liver slice of each sequence, "
                      "one validation patient with and one without recurrence (red = high relevance)")

    report.section("Model performance")
    report.table("performance", performance_wide(result.performance),
                 caption="Table 3. AUC (DeLong 95% CI); sensitivity, specificity, accuracy, PPV, NPV at the Youden "
                 "cut-off chosen in the training cohort and applied unchanged to validation")
    if len(result.delong):
        report.table("delong", result.delong, caption="Paired DeLong tests: nomogram vs each model")
    models = [m for m in MODELS if m in preds]
    binary_figures(report, preds, models, "models", "the clinical model, Rad score, DL score and nomogram")
    if result.true_risk_auc:
        t = result.true_risk_auc
        report.section("Best achievable (synthetic truth)",
                       f"AUC of the true 6-month risk (truth.csv p_er_6m) on the same patients: training "
                       f"{t['training']:.3f}, validation {t['validation']:.3f} (95% CI {t['validation_low']:.3f}-"
                       f"{t['validation_high']:.3f}). A model can at best approach it.")
    preds.to_csv(report.out_dir / "tables" / "predictions.csv")
    report.paragraph("Per-patient scores and predictions of every model: tables/predictions.csv.")
    return report.write()
