"""zhao2024's report sections beyond the radiomics arm: the deep-learning arms (ResNet-10/18/34, DLRCR)
and the SHAP explanations of the score models. Called by ``hccrisk.reproduce.report.write_zhao2024_report``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hccrisk.report.html import Report


def deep_sections(report: Report, result: Any, binary_figures: Any) -> None:
    """ResNet table, DLRCR, DeLong DLRCR vs RCR / CR, ROC/calibration/DCA of the five models."""
    from hccrisk.reproduce.zhao2024_dl import LABELS

    deep = result.deep
    if deep is None:
        report.note("The deep-learning arms (ResNet-10/18/34, DLRCR) were not run (deep=False).")
        return
    shape = next(iter(deep.summaries.values()))["input_shape"]
    cfg = next(iter(deep.summaries.values()))["config"]
    report.section("Deep-learning models: multi-phase ResNet and DLRCR", (
        f"Input per patient: the 3 consecutive slices of maximum tumour area of AP, PVP and DP ({shape[0]} channels), "
        f"cropped around the tumour (+10 mm) and resized to {shape[1]} x {shape[2]} px (paper: 256 x 256; a CPU "
        f"choice, docs/papers/zhao2024.md). One 2D MONAI ResNet per phase, pooled features concatenated, FC. "
        f"Training cohort only: {next(iter(deep.summaries.values()))['n_fit']} patients fitted, "
        f"{next(iter(deep.summaries.values()))['n_tune']} held out for early stopping (never the validation cohort). "
        f"SGD lr {cfg['lr']}, momentum {cfg['momentum']}, batch {cfg['batch_size']}, at most {cfg['epochs']} epochs, "
        f"patience {cfg['patience']}; augmentation: rotation, scaling, flips, shifts."))
    report.record("dl_networks", {**deep.summaries, "best_depth": deep.best_depth, "dlrcr_tabular": list(deep.tabular)})
    report.table("resnets", deep.resnets, caption="ResNet depths: AUC (DeLong 95% CI) in training and validation; "
                 "the depth with the lowest tuning loss is the DL model and DLRCR's backbone")
    if not deep.tabular:
        report.note("No radiomics feature and no clinical predictor was selected: DLRCR has nothing to fuse and is "
                    "the DL model retrained.")
    report.paragraph(f"DL model = {LABELS[deep.best_depth]} (lowest tuning loss). DLRCR: its DL features reduced "
                     f"to 16 values (FC + ReLU), fused in the FC with {len(deep.tabular)} standardised predictors "
                     f"({', '.join(deep.tabular)}); the tabular weights start at a ridge logistic fit, then "
                     f"everything trains jointly.")
    deep.tabular_table.rename_axis("patient_id").to_csv(report.out_dir / "tables" / "dlrcr_tabular.csv")
    report.paragraph("DLRCR's predictors per patient (raw values): tables/dlrcr_tabular.csv, the --tabular input of "
                     "`hccrisk train dlrcr` and of the dlrcr_zhao2024 bundle.")
    dl = result.delong[result.delong.comparison.str.contains("DL")]
    report.table("delong_dl", dl, caption="Paired DeLong tests: DLRCR vs RCR, CR and the DL model; DL vs Rad-LR")
    models = [m for m in ("CR", "Rad-LR", "DL", "RCR", "DLRCR") if m in result.predictions]
    binary_figures(report, result.predictions, models, "dl", "the CR, radiomics (LR), DL, RCR and DLRCR models")
    if deep.cam is not None:
        from hccrisk.log import pseudonym

        who = pseudonym(deep.cam["patient"])
        fig, numbers = score_cam_figure(deep.cam)
        report.figure("score_cam", fig, {"patient": who, **numbers},
                      caption=f"Figure 4. Score-CAM of the DL model ({LABELS[deep.best_depth]}, class early recurrence, "
                              f"each phase's ResNet layer2) over the middle max-area slice, validation patient {who} "
                              f"(pseudonym) with the highest DL probability.")


def score_cam_figure(cam: dict) -> tuple[Any, dict]:
    """One column per phase: the slice (grey) with its Score-CAM (jet, red = high relevance) overlaid."""
    import numpy as np

    from hccrisk.report.figures import _style

    fig = _style.new_figure(1.9 * len(cam["phases"]) + 0.4, 2.2)
    numbers = {"phases": []}
    for i, (phase, img, m) in enumerate(zip(cam["phases"], cam["slices"], cam["maps"])):
        ax = fig.add_subplot(1, len(cam["phases"]), i + 1)
        ax.imshow(img, cmap="gray")
        ax.imshow(m, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(phase, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        numbers["phases"].append({"phase": phase, "peak_row_col": [int(v) for v in np.unravel_index(np.argmax(m), m.shape)]})
    return fig, numbers


def _shap_labels() -> dict[str, str]:
    from hccrisk.reproduce.report import NOMOGRAM_LABELS

    return dict(NOMOGRAM_LABELS)


def shap_section(report: Report, result: Any) -> None:
    """Beeswarm summary over the validation patients + a waterfall of one validation patient per model."""
    from hccrisk.report import figures

    if not result.shap:
        return
    preds = result.predictions
    val = list(preds.index[preds.cohort == "validation"])
    report.section("SHAP explanations of the score models", (
        "Exact SHAP values of the linear models on the log-odds scale (for a linear model phi_j = w_j (x_j - "
        "mean of x_j over the training cohort), hccrisk.report.figures.shap). Summary over the validation "
        "patients; waterfall of the validation patient with the highest predicted risk."))
    for name, (values, feats) in result.shap.items():
        stem = name.lower().replace(" ", "_")
        fig, numbers = figures.shap_summary_figure(values.loc[val], feats.loc[val], _shap_labels(),
                                                   title=f"{name}: validation cohort")
        report.figure(f"shap_summary_{stem}", fig, numbers, caption=f"SHAP summary of the {name} (validation cohort)")
        total = values.loc[val].sum(axis=1)
        pid = str(total.idxmax())
        base = float(_base_log_odds(result, name))
        fig, numbers = figures.shap_waterfall_figure(values.loc[pid], feats.loc[pid], base, _shap_labels(),
                                                     title=f"{name}: validation patient {val.index(pid) + 1}")
        report.figure(f"shap_waterfall_{stem}", fig, numbers,
                      caption=f"SHAP waterfall of the {name} for the validation patient with the highest score")
    rows = [{"model": n, "feature": f, "mean |SHAP| (validation)": float(v.loc[val, f].abs().mean())}
            for n, (v, _) in result.shap.items() for f in v.columns]
    pd.DataFrame(rows).to_csv(report.out_dir / "tables" / "shap_importance.csv", index=False)


def _base_log_odds(result: Any, name: str) -> float:
    """E[f(x)] over the training cohort in log-odds: the mean Rad score, or the mean RCR linear predictor."""
    import numpy as np

    preds = result.predictions
    train = preds.cohort == "training"
    if name == "Rad score":
        return float(preds.loc[train, "rad_score"].mean())
    p = preds.loc[train, "RCR"].clip(1e-12, 1 - 1e-12)
    return float(np.log(p / (1 - p)).mean())
