"""The liu2025 report (``hccrisk.report.html.Report``): report.html, tables/*.csv, figures/*.png,
figures.json, provenance.json; Grad-CAM figures as the paper's figure 6."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from hccrisk.report.html import Report
from hccrisk.reproduce.common import RunPaths
from hccrisk.reproduce.report import NOMOGRAM_LABELS, binary_figures, readable_baseline

LABELS = {**NOMOGRAM_LABELS, "ceus_mp_signature": "CEUS-MP signature", "alb_low": "ALB < 35 g/L",
          "afp_high": "AFP >= 200 ng/mL", "pt": "PT (s)", "wbc": "WBC (10^9/L)", "tumour_number": "Tumour number",
          "child_pugh": "Child-Pugh class", "bclc": "BCLC stage"}


def _with_ci(perf: pd.DataFrame) -> pd.DataFrame:
    """Table 2 layout: 'estimate (low-high)' for AUC, sensitivity, specificity, accuracy."""
    out = perf[["model", "cohort", "n", "events"]].copy()
    for m in ("AUC", "sensitivity", "specificity", "accuracy"):
        out[f"{m} (95% CI)"] = [f"{a:.3f} ({lo:.3f}-{hi:.3f})" for a, lo, hi in
                                zip(perf[m], perf[f"{m} low"], perf[f"{m} high"])]
    out["cut-off (training Youden)"] = perf["cut-off (training Youden)"]
    return out


def cam_examples(result: Any, cases: Mapping[str, np.ndarray], ingest: Path, n_patients: int = 2) -> list[tuple]:
    """Grad-CAM of CEUS-MP on the arterial frames nearest ``CAM_TIMES`` for the ``n_patients`` validation
    patients with early recurrence and the highest CEUS-MP probability (true positives first, as the
    paper's example). Returns [(patient, frames (3, H, W), maps (3, H, W), titles)]."""
    import torch

    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.log import pseudonym
    from hccrisk.nets.cam import grad_cam
    from hccrisk.nets.data import phase_sample_times
    from hccrisk.reproduce.liu2025 import CAM_LAYER, CAM_TIMES

    preds = result.predictions
    chosen = preds[(preds.cohort == "validation") & (preds.y == 1)].sort_values("CEUS-MP", ascending=False)
    nets = result.models["CEUS-MP"].nets
    out = []
    for pid in list(chosen.index[:n_patients]):
        x = torch.as_tensor(cases[pid])  # (n_splits, 3, T, H, W)
        # The model is the mean of its fold networks, so its map is the mean of theirs (each in [0, 1]).
        maps = np.mean([grad_cam(net, x, target_layer=CAM_LAYER) for net in nets], axis=0)  # (n_splits, T, H, W)
        times = phase_sample_times(ingest / patient_dir_name(pid), "AP", x.shape[2], x.shape[0])
        frames, cams, titles = [], [], []
        for t in CAM_TIMES:
            k, j = np.unravel_index(np.argmin(np.abs(times - t)), times.shape)
            frames.append(cases[pid][k, 0, j])
            cams.append(maps[k, j])
            titles.append(f"AP {times[k, j]:.1f} s")
        out.append((pseudonym(pid), np.stack(frames), np.stack(cams), titles))
    return out


def write_liu2025_report(result: Any, paths: RunPaths, meta: Mapping[str, Any], failures: pd.DataFrame, seconds: float,
                         cases: Mapping[str, np.ndarray]) -> Path:
    """Write ``paths.out/report.html`` (+ tables/, figures/, figures.json, provenance.json)."""
    from hccrisk.nets.cam import cam_triptych_figure
    from hccrisk.report import figures
    from hccrisk.reproduce.liu2025 import ALB_LOW, AFP_HIGH, MODELS, SPLIT

    report = Report("liu2025 reproduction: CEUS cine deep learning and nomogram for early recurrence",
                    Path(paths.out), seed=result.seed)
    preds = result.predictions
    n_train, n_val = int((preds.cohort == "training").sum()), int((preds.cohort == "validation").sum())
    report.record("cohort", {"path": str(paths.cohort), **{k: meta.get(k) for k in ("n_patients", "seed", "signal", "modality")}})
    report.record("split", {"paper": list(SPLIT), "seed": result.seed, "training": n_train, "validation": n_val,
                            "training_ids": list(preds.index[preds.cohort == "training"]),
                            "validation_ids": list(preds.index[preds.cohort == "validation"])})
    report.record("networks", {m: t.summary for m, t in result.models.items()})
    report.record("train_config", result.train_config)
    report.record("wall_seconds", round(seconds, 1))
    if result.true_risk_auc:
        report.record("true_risk_auc", result.true_risk_auc)

    cfg = result.train_config
    report.section("Study", (
        f"Liu et al. 2025, deep learning on CEUS cines for early recurrence after hepatectomy. Endpoint: early "
        f"recurrence within 2 years (er_2y); patients censored before 2 years without recurrence are excluded. "
        f"{n_train + n_val} patients split at random {SPLIT[0]}:{SPLIT[1]} as the paper (stratified by outcome, "
        f"seed {result.seed}): {n_train} training, {n_val} validation. Networks (hccrisk.nets.ceus, "
        f"docs/networks.md): CEUS-AP/-PP/-LP on one phase cine, CEUS-MP on all three; SGD momentum "
        f"{cfg['momentum']}, batch {cfg['batch_size']}, lr {cfg['lr']} halved at epochs {cfg['milestones']}, "
        f"{cfg['epochs']} epochs at most, L1 {cfg['l1']} + L2 {cfg['l2']}, rotation/flip/intensity augmentation; "
        f"cross-validation in training: each model is {cfg.get('folds')} networks, each early-stopped "
        f"(patience {cfg['patience']}) on the loss of its own stratified fold of the training patients and "
        f"fitted on the other folds (never on the validation cohort); the model's probability is the mean of "
        f"its networks'. Total wall time {seconds / 60:.1f} min."))
    if meta:
        report.paragraph(f"Synthetic cohort: seed {meta.get('seed')}, planted signal {meta.get('signal')}, "
                         f"{meta.get('n_patients')} patients.")
    if len(failures):
        report.note(f"{len(failures)} patients had no usable CEUS cine or ROI and were left out (tables/failures.csv).")
        report.table("failures", failures, caption="Failures")
    if n_val < 30:
        report.note(f"The validation cohort has {n_val} patients: its AUCs move in large steps and their CIs are wide.")
    budget = "" if cfg["epochs"] >= 70 else f"; at most {cfg['epochs']} epochs (paper 70) to fit the CPU time budget"
    report.note(f"Deviations: {cfg.get('folds')}-fold instead of the paper's ten-fold cross-validation in training "
                f"(CPU time){budget}.")

    report.section("Baseline characteristics")
    report.table("baseline", readable_baseline(result.baseline),
                 caption="Table 1. Training vs validation cohort (mean ± SD or median (IQR); test named per row)")

    report.section("CEUS models")
    report.table("training", result.training, caption="Training of the four models' fold networks (per fold, separated by /; same seed, same weights)")
    perf = result.performance
    cnn = perf[perf.model.isin(list(MODELS))]
    report.table("performance_ceus", _with_ci(cnn), caption="Table 2. CEUS models: AUC (DeLong 95% CI); sensitivity, "
                 "specificity, accuracy (exact 95% CI) at the Youden cut-off chosen in training, applied to validation")
    dl = result.delong
    report.table("delong_ceus", dl[dl.comparison.str.startswith("CEUS-MP vs CEUS-")],
                 caption="Paired DeLong tests: CEUS-MP vs each single-phase model")
    binary_figures(report, preds, list(MODELS), "ceus", "the four CEUS models")

    report.section("Clinical model",
                   f"Univariate logistic regression (P < 0.10 to enter), stepwise multivariable (P < 0.05 to stay), "
                   f"training cohort. ALB and AFP enter dichotomised as in the paper (ALB < {ALB_LOW:g} g/L, "
                   f"AFP >= {AFP_HIGH:g} ng/mL).")
    report.table("clinical_univariate", result.clinical_univariate, caption="Table 3a. Univariate analysis")
    report.table("clinical_multivariable", result.clinical_multivariable, caption="Table 3b. Multivariable analysis")
    if not result.clinical_selected:
        report.note("No clinical variable reached P < 0.05: the clinical model is the intercept only (AUC 0.5).")

    report.section("Nomogram: CEUS-MP signature + clinical predictors",
                   "Logistic regression on the CEUS-MP probability (the signature) and the clinical model's predictors.")
    for note in result.notes:
        report.note(note)
    if result.nomogram is not None:
        report.table("nomogram_model", result.nomogram_table, caption="Nomogram model: odds ratios")
        labels = {p: LABELS.get(p, p.replace("_", " ").capitalize()) for p in result.nomogram_predictors}
        fig, numbers = figures.nomogram_figure(result.nomogram, labels=labels)
        report.figure("nomogram", fig, numbers, caption="Figure 5a. Nomogram (probability of early recurrence)")
    models = [m for m in ("Nomogram", "CEUS-MP", "Clinical") if m in preds]
    report.table("performance", _with_ci(perf[perf.model.isin(models)]),
                 caption="Nomogram, CEUS-MP and clinical model: AUC, sensitivity, specificity, accuracy (95% CI)")
    report.table("delong_nomogram", dl[dl.comparison.str.startswith("Nomogram")],
                 caption="Paired DeLong tests of the nomogram")
    report.table("hosmer_lemeshow", result.hosmer_lemeshow, caption="Hosmer-Lemeshow goodness of fit (10 groups)")
    binary_figures(report, preds, models, "nomogram", "the nomogram, CEUS-MP and the clinical model")

    report.section("Visualisation (Grad-CAM)",
                   "Grad-CAM of CEUS-MP (class early recurrence, third separable block: 8 x 8 positions) on the early arterial "
                   "frames nearest 9, 12 and 15 s of validation patients with early recurrence and the highest "
                   "CEUS-MP probability (paper figure 6 shows CEUS-LP; its input has no arterial frame, so the "
                   "multiphase network is shown). Crops: tumour box + 5 mm liver, 64 x 64.")
    for i, (who, frames, maps, titles) in enumerate(cam_examples(result, cases, Path(paths.ingest))):
        fig, numbers = cam_triptych_figure(frames, maps, titles)
        report.figure(f"gradcam_{i + 1}", fig, {"patient": who, **numbers},
                      caption=f"Figure 6. Patient {who} (pseudonym): CEUS frame, Grad-CAM, overlay.")

    if result.true_risk_auc:
        t = result.true_risk_auc
        report.section("Best achievable (synthetic truth)",
                       f"AUC of the true 2-year risk (truth.csv p_er_2y) on the same patients: training "
                       f"{t['training']:.3f}, validation {t['validation']:.3f} (95% CI {t['validation_low']:.3f}-"
                       f"{t['validation_high']:.3f}). A model can at best approach it.")
    preds.to_csv(report.out_dir / "tables" / "predictions.csv")
    report.paragraph("Per-patient predictions of every model: tables/predictions.csv.")
    return report.write()
