"""The huang2022 report (``hccrisk.report.html.Report``): tables as in the paper, figures (ROC, calibration,
decision curves for ER; KM by X-tile group, calibration at 1/3/5 years, prediction-error curves for OS;
cumulative incidence of ER with death competing; KM of retreatment per class; reader study)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hccrisk.report.figures import _style
from hccrisk.report.html import Report
from hccrisk.reproduce.report import binary_figures, performance_wide, readable_baseline

CLASS_NAMES = {1: "Class 1: high ER, low OS risk", 2: "Class 2: high ER, high OS risk",
               3: "Class 3: low ER, low OS risk", 4: "Class 4: low ER, high OS risk"}


@_style.publication_style
def brier_figure(curves: Mapping[str, Mapping[str, Any]], panel_size_in: float = 3.4) -> tuple[Figure, dict]:
    """Prediction-error (IPCW Brier) curves, one panel per cohort: {cohort: {"times": (k,), model: (k,)}}."""
    fig = _style.new_figure(panel_size_in * len(curves), panel_size_in)
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (cohort, c) in zip(axes, curves.items()):
        names = [k for k in c if k not in ("times", "Kaplan-Meier")]
        for i, name in enumerate(names):
            ax.plot(c["times"], c[name], color=_style.color(i), linestyle=_style.linestyle(i), label=name)
        ax.plot(c["times"], c["Kaplan-Meier"], color=_style.GREY, linestyle=":", label="Kaplan-Meier (no model)")
        ax.set(xlabel="Time (months)", ylabel="Prediction error (Brier score)", ylim=(0, None))
        ax.set_title(cohort.capitalize(), loc="left")
        ax.legend(loc="upper left", fontsize=7)
    return fig, {k: dict(v) for k, v in curves.items()}


@_style.publication_style
def cif_figure(time: np.ndarray, event: np.ndarray, group: np.ndarray, cohorts: np.ndarray, labels: Mapping[Any, str],
               cause: int = 1, max_time: float = 24.0, panel_size_in: float = 3.4) -> tuple[Figure, dict]:
    """Cumulative incidence of ``cause`` (death competing) per group with Gray's test, one panel per cohort."""
    from hccrisk import stats

    levels = [c for c in ("training", "validation") if c in set(cohorts)] or list(dict.fromkeys(cohorts))
    fig = _style.new_figure(panel_size_in * len(levels), panel_size_in)
    axes = fig.subplots(1, len(levels), squeeze=False)[0]
    numbers: dict[str, Any] = {}
    for ax, cohort in zip(axes, levels):
        m = cohorts == cohort
        ci = stats.cumulative_incidence(time[m], event[m], cause=cause, group=group[m])
        numbers[cohort] = {"gray_p": ci.p_value}
        for i, g in enumerate(sorted(labels)):
            steps = ci.table[ci.table["group"] == g]
            x, y = np.r_[0.0, steps["time"].to_numpy()], np.r_[0.0, steps["cif"].to_numpy()]
            ax.step(x, y, where="post", color=_style.color(i), linestyle=_style.linestyle(i),
                    label=f"{labels[g]} (n = {int((group[m] == g).sum())})")
            numbers[cohort][labels[g]] = {"time": x, "cif": y}
        ax.set(xlim=(0, max_time), ylim=(0, 1), xlabel="Time (months)", ylabel="Cumulative incidence of recurrence")
        ax.set_title(f"{cohort.capitalize()}: Gray {_style.format_p(ci.p_value)}", loc="left")
        ax.legend(loc="upper left", fontsize=7)
    return fig, numbers


@_style.publication_style
def survival_calibration_figure(cal: pd.DataFrame, model: str, panel_size_in: float = 3.0) -> tuple[Figure, dict]:
    """Predicted vs Kaplan-Meier observed S(t) per risk group (tertile or half), one panel per cohort, a colour per time."""
    sub = cal[cal.model == model]
    cohorts = list(dict.fromkeys(sub.cohort))
    fig = _style.new_figure(panel_size_in * max(len(cohorts), 1), panel_size_in + 0.3)
    axes = fig.subplots(1, max(len(cohorts), 1), squeeze=False)[0]
    numbers: dict[str, Any] = {}
    for ax, cohort in zip(axes, cohorts):
        numbers[cohort] = {}
        for i, (month, rows) in enumerate(sub[sub.cohort == cohort].groupby("months")):
            pred, obs = rows.predicted.to_numpy(float), rows.observed.to_numpy(float)
            err = [obs - rows.lower.to_numpy(float), rows.upper.to_numpy(float) - obs]
            ax.errorbar(pred, obs, yerr=err,
                        marker="os^"[i % 3], color=_style.color(i), linestyle="-", capsize=2,
                        label=f"{month / 12:g} y (GND {_style.format_p(rows['GND P'].iloc[0])})")
            numbers[cohort][f"{month:g}"] = rows[["predicted", "observed", "lower", "upper"]].to_dict("list")
        ax.plot([0, 1], [0, 1], color=_style.GREY, linestyle=":", linewidth=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Predicted survival", ylabel="Observed survival (KM)")
        ax.set_aspect("equal")
        ax.set_title(cohort.capitalize(), loc="left")
        ax.legend(loc="upper left", fontsize=7)
    return fig, numbers


def _table_or_say(report: Report, name: str, table: pd.DataFrame, caption: str, empty: str, **kwargs: Any) -> None:
    """``report.table`` when ``table`` has rows, else one sentence: the caption and why there is nothing."""
    if len(table):
        report.table(name, table, caption=caption, **kwargs)
    else:
        report.paragraph(f"{caption}: {empty}")


def _er_section(report: Report, result: Any) -> None:
    preds = result.predictions
    report.section("Early recurrence (ER within 1 year): DLR, clinical and clinical + DLR models")
    report.table("er_selection_counts", result.selection_counts, caption="DLR features left after each step (training)")
    if "ER" in result.dlr_missing:
        report.note(result.dlr_missing["ER"])
    else:
        report.table("er_dlr_features", result.er_coefficients, digits=4,
                     caption="DLR score: features kept by the L1-logistic model (coefficients on z-scored features)")
    if len(result.er_icc):
        report.table("er_icc", result.er_icc, caption="Inter-observer ICC(2,1) of the selected features "
                     "(observer 1 vs observer 2, reproducibility subset)")
    report.table("er_clinical_univariate", result.clinical_univariate, caption="Clinical ER model: univariate logistic")
    _table_or_say(report, "er_clinical_multivariable", result.clinical_multivariable,
                  "Clinical ER model: multivariable (stepwise, P < 0.05)", "no clinical variable selected.")
    report.table("er_performance", performance_wide(result.er_performance),
                 caption="ER models: AUC (DeLong 95% CI); sensitivity, specificity, accuracy at the training Youden "
                 "cut-off applied unchanged to validation")
    _table_or_say(report, "er_delong", result.er_delong, "Paired DeLong tests", "none (a single ER model).")
    models = [m for m in ("DLR", "Clinical", "Clinical + DLR") if m in preds]
    binary_figures(report, preds, models, "er", "the ER models")
    t = result.truth
    if t:
        report.paragraph(f"Best achievable (synthetic truth p_er_1y): AUC training {t['er_auc_training']:.3f}, "
                         f"validation {t['er_auc_validation']:.3f} ({t['er_auc_validation_low']:.3f}-"
                         f"{t['er_auc_validation_high']:.3f}).")


def _os_section(report: Report, result: Any) -> None:
    from hccrisk.report import figures

    os_models, preds = result.os, result.predictions
    report.section("Overall survival: DLR score (univariate Cox C > 0.58 -> L1-Cox) and Cox models")
    kept = int(os_models.univariate_c.kept.sum())
    report.paragraph(f"{len(os_models.univariate_c)} DLR features; {kept} with a univariate Cox C-index > 0.58 "
                     f"in training (tables/os_univariate_c.csv); L1-Cox kept {len(os_models.dlr_coefficients)}.")
    os_models.univariate_c.to_csv(report.out_dir / "tables" / "os_univariate_c.csv", index=False)
    os_models.lambda_cv.to_csv(report.out_dir / "tables" / "os_lambda_cv.csv", index=False)
    if "OS" in result.dlr_missing:
        report.note(result.dlr_missing["OS"])
    else:
        report.table("os_dlr_features", os_models.dlr_coefficients, digits=4, caption="OS DLR score: L1-Cox "
                     "coefficients (z-scored features); lambda by 5-fold CV (tables/os_lambda_cv.csv)")
    report.table("os_univariate", os_models.clinical_univariate, caption="Table 3a. Univariate Cox regression (training)")
    which = "clinical model (no DLR score)" if "OS" in result.dlr_missing else "clinical + DLR model"
    _table_or_say(report, "os_multivariable", os_models.multivariable,
                  f"Table 3b. Multivariable Cox regression, {which} (stepwise, P < 0.05)", "no variable selected.")
    report.table("c_index", result.c_index, caption="Harrell's C-index of the OS models (95% CI, infinitesimal jackknife)")
    _table_or_say(report, "c_index_comparison", result.c_compare, "Paired comparison of C-indices",
                  "none (the DLR models are not formed).")
    if len(result.time_auc):
        wide = result.time_auc.pivot_table(index=["model", "cohort"], columns="months", values="AUC(t)").reset_index()
        wide.columns = [c if isinstance(c, str) else f"AUC at {c / 12:g} y" for c in wide.columns]
        report.table("os_time_auc", wide, caption="Time-dependent AUC of the OS models (Uno, cumulative/dynamic)")
    _table_or_say(report, "xtile_groups", result.group_hazards, "X-tile risk groups (cut-off from training, "
                  "applied unchanged): HR high vs low. Cut-offs: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in result.xtile_cutoffs.items()),
                  "none (no OS model with a varying linear predictor).")
    cohorts = preds["cohort"].to_numpy()
    for m in result.xtile_cutoffs:
        for cohort in ("training", "validation"):
            sel = cohorts == cohort
            fig, numbers = figures.km_figure(preds.loc[sel, "os_time"], preds.loc[sel, "os_event"],
                                             preds.loc[sel, f"OS group {m}"], labels={0: "Low risk", 1: "High risk"},
                                             group_order=[0, 1], ylabel="Overall survival",
                                             title=f"{m} model, {cohort}", width_in=3.6)
            report.figure(f"km_{m.replace(' + ', '_').lower()}_{cohort}", fig, numbers,
                          caption=f"Overall survival by the {m} model's X-tile group ({cohort}).")
    if len(result.calibration):
        report.table("os_calibration", result.calibration, caption="Calibration at 1, 3, 5 years: mean predicted vs "
                     "Kaplan-Meier S(t) per tertile (or half) of predicted risk; Greenwood-Nam-D'Agostino test")
        for m in dict.fromkeys(result.calibration.model):
            fig, numbers = survival_calibration_figure(result.calibration, m)
            report.figure(f"os_calibration_{m.replace(' + ', '_').lower()}", fig, numbers,
                          caption=f"Calibration of the {m} model at 1, 3 and 5 years (tertiles or halves, 95% CI).")
    report.table("os_brier", result.brier, caption="Integrated Brier scores (IPCW, censoring KM of training)")
    if result.brier_curves:
        fig, numbers = brier_figure(result.brier_curves)
        report.figure("os_brier", fig, numbers, caption="Prediction-error curves of the OS models against Kaplan-Meier.")
    if len(result.nri):
        report.table("os_nri", result.nri, caption="Survival NRI (category-free) of clinical + DLR over clinical, "
                     "3-year OS risk (bootstrap 95% CI)")
    else:
        report.paragraph("Survival NRI of clinical + DLR over clinical: not computed (no OS DLR score, so no "
                         "clinical + DLR model).")
    t = result.truth
    if t:
        report.paragraph(f"Reference (synthetic truth): C-index of the true recurrence linear predictor "
                         f"(lp_recurrence) for OS: training {t['os_c_lp_recurrence_training']:.3f}, validation "
                         f"{t['os_c_lp_recurrence_validation']:.3f} (also in the C-index table).")


def _competing_and_classes(report: Report, result: Any) -> None:
    from hccrisk.report import figures

    preds = result.predictions
    report.section("Early recurrence with death as competing event (Fine-Gray)",
                   "Recurrence within 12 months (follow-up censored at 12 months), death without recurrence competing. "
                   "Univariate Fine-Gray per candidate in training; P < 0.05 (and the DLR ER score) enter the "
                   "multivariable model, refitted unchanged in validation. HR = subdistribution hazard ratio.")
    report.table("fine_gray_univariate", result.fine_gray_univariate, caption="Univariate Fine-Gray (training)")
    _table_or_say(report, "fine_gray_multivariable", result.fine_gray_multivariable, "Multivariable Fine-Gray",
                  "not fitted (see the notes at the top).")
    if "er_high" in preds:
        ev = np.where(preds["event_time"] > 24.0, 0, preds["event_type"]).astype(int)
        fig, numbers = cif_figure(np.minimum(preds["event_time"].to_numpy(float), 24.0), ev, preds["er_high"].to_numpy(),
                                  preds["cohort"].to_numpy(), {0: "DLR low ER risk", 1: "DLR high ER risk"})
        report.figure("cif_er", fig, numbers, caption="Cumulative incidence of recurrence by the DLR ER group (training "
                      "Youden cut-off), death without recurrence competing; Gray's test.")
    else:
        report.paragraph("Cumulative incidence by DLR ER group: not drawn (no DLR ER score).")

    report.section("Four classes and retreatment after recurrence",
                   "Classes from the predicted ER (DLR, training Youden cut-off) and the OS risk (DLR, X-tile): per class, "
                   "among patients with a recurrence, the Cox HR of retreatment for OS (all patients).")
    if "class" not in preds:
        missing = " and ".join(f"no {arm} DLR score" for arm in ("ER", "OS") if arm in result.dlr_missing)
        report.paragraph(f"The four classes are not formed: they need both DLR scores ({missing}).")
        return
    report.table("classes", result.classes, caption="Per class: patients, recurrences, retreated, HR (95% CI) of retreatment")
    recurred = preds[preds["event_type"] == 1]
    for k in (1, 2, 3, 4):
        sub = recurred[recurred["class"] == k]
        if sub["retreatment"].nunique() < 2:
            continue
        fig, numbers = figures.km_figure(sub["os_time"], sub["os_event"], sub["retreatment"].astype(int),
                                         labels={0: "No retreatment", 1: "Retreatment"}, group_order=[0, 1],
                                         ylabel="Overall survival", title=CLASS_NAMES[k], width_in=3.6)
        report.figure(f"km_class{k}", fig, numbers, caption=f"{CLASS_NAMES[k]}: OS by retreatment.")


def _readers_section(report: Report, study: Any, simulated: bool) -> None:
    report.section("Reader study" + (" (simulated readers)" if simulated else ""))
    if study is None:
        report.paragraph("Not made: the readers' second reading is with the DLR ER model, and no DLR ER score was "
                         "formed.")
        return
    if simulated:
        report.note("The readers are simulated (hccrisk.reproduce.readers.simulate_reader_calls, seeded): their calls "
                    "with the model follow the DLR ER model's predictions. Real readers' calls go through "
                    "`hccrisk readers analyse CALLS.csv --cohort C --out D`.")
    if len(study.per_reader):
        report.table("readers", study.per_reader, caption="Each reader's sensitivity, specificity and accuracy without "
                     "and with the model (Clopper-Pearson 95% CIs), paired change (Wald 95% CI) and McNemar P")
    if len(study.kappa):
        report.table("readers_kappa", study.kappa, caption="Agreement between readers: Cohen's kappa per pair, "
                     "Fleiss' kappa over all readers")


def write_huang2022_report(result: Any, out_dir: str | Path, cohort_dir: str | Path, meta: Mapping[str, Any],
                           failures: pd.DataFrame, seconds: float) -> Path:
    """Write ``out_dir/report.html`` (+ tables/, figures/, figures.json, provenance.json)."""
    from hccrisk.radiomics.parameters import resolve_params
    from hccrisk.reproduce.huang2022 import ER, SPLIT_RATIO
    from hccrisk.reproduce.huang2022_frames import PARAMS

    report = Report("huang2022 reproduction: DLR of grayscale and peak CEUS frames for early recurrence and survival",
                    Path(out_dir), seed=result.seed, parameter_files=[resolve_params(PARAMS)])
    preds = result.predictions
    n_tr, n_va = int((preds.cohort == "training").sum()), int((preds.cohort == "validation").sum())
    report.record("cohort", {"path": str(cohort_dir), **{k: meta.get(k) for k in ("n_patients", "seed", "signal", "modality")}})
    report.record("split", {"ratio": list(SPLIT_RATIO), "seed": result.seed, "training": n_tr, "validation": n_va,
                            "training_ids": list(preds.index[preds.cohort == "training"]),
                            "validation_ids": list(preds.index[preds.cohort == "validation"])})
    report.record("wall_seconds", round(seconds, 1))
    report.record("truth", result.truth)
    report.record("dlr_not_formed", result.dlr_missing)
    report.section("Study", (
        f"Huang et al. 2022 (World J Gastrointest Oncol 14:2380). Endpoints: early recurrence within 1 year ({ER}; "
        f"patients censored before 1 year without recurrence excluded) and overall survival. {n_tr + n_va} patients, "
        f"split {SPLIT_RATIO[0]}:{SPLIT_RATIO[1]} (stratified by {ER}, seed {result.seed}): {n_tr} training, {n_va} "
        f"validation. Images: the grayscale frame and the CEUS frame of peak lesion enhancement (time-intensity curve "
        f"0-360 s); 2D radiomics ({PARAMS}) in the lesion ellipse of each frame and 128 deep features of a small "
        f"convolutional autoencoder trained, without labels, on the training cohort's box crops of both frames. "
        f"Everything that learns is fitted on the training cohort only."))
    if meta:
        report.paragraph(f"Synthetic cohort: seed {meta.get('seed')}, planted signal {meta.get('signal')}, "
                         f"{meta.get('n_patients')} patients.")
    if len(failures):
        report.note(f"{len(failures)} frames/extractions failed and were left out (tables/failures.csv).")
        report.table("failures", failures, caption="Failures")
    if n_va < 40:
        report.note(f"The validation cohort has {n_va} patients: its AUCs and C-indices have wide CIs.")
    for note in [*result.dlr_missing.values(), *result.notes]:
        report.note(note)
    report.section("Baseline characteristics")
    report.table("baseline", readable_baseline(result.baseline), caption="Table 1. Training vs validation cohort")
    _er_section(report, result)
    _os_section(report, result)
    _competing_and_classes(report, result)
    _readers_section(report, result.readers, simulated=True)
    preds.to_csv(report.out_dir / "tables" / "predictions.csv")
    report.paragraph("Per-patient scores, probabilities, groups and classes: tables/predictions.csv.")
    return report.write()
