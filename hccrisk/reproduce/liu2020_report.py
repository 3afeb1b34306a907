"""The liu2020 report (``hccrisk.report.html.Report``): split and baseline per treatment, the Cox-CNN
signatures (X-tile, Kaplan-Meier, C-index, HR), the nomograms (selection, drawing, calibration, decision
curves) and the treatment swap (cross-stratification, paired 2-year PFS, agreement with the truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from hccrisk.report.html import Report
from hccrisk.reproduce.report import NOMOGRAM_LABELS, readable_baseline

LABELS = {**NOMOGRAM_LABELS, "signature": "Signature (log hazard)", "cirrhosis": "Cirrhosis (0/1)",
          "hbv": "HBV (0/1)", "wbc": "WBC (10^9/L)", "pt": "PT (s)", "albi": "ALBI score"}


def _ci(est: float, low: float, high: float) -> str:
    return f"{est:.3f} ({low:.3f}-{high:.3f})" if np.isfinite(est) else ""


def _performance_table(arm: Any) -> pd.DataFrame:
    p = arm.performance
    out = pd.DataFrame({"cohort": p["cohort"], "n": p["n"], "events": p["events"],
                        "C-index (95% CI)": [_ci(*r) for r in zip(p["C-index"], p["C low"], p["C high"])],
                        "high-risk share": p["high-risk share"]})
    if "HR high vs low" in p:
        out["HR high vs low (95% CI)"] = [_ci(*r) for r in zip(p["HR high vs low"], p["HR low"], p["HR high"])]
        out["log-rank P"] = p["log-rank P"]
    return out


def swap_pfs_figure(patients: pd.DataFrame, treatment: str, other: str) -> tuple[Any, dict]:
    """Paired 2-year PFS of the swap candidates (own high-risk, swapped low-risk): own treatment's
    nomogram vs the other's, one line per patient (the paper's Fig. 5b/d)."""
    from hccrisk.report.figures import _style

    d = patients[(patients.treatment == treatment) & (patients.swap_candidate == 1)]
    own, alt = d[f"pfs2y_{treatment}"].to_numpy(), d[f"pfs2y_{other}"].to_numpy()
    fig = _style.new_figure(3.2, 3.2)
    ax = fig.subplots()
    for a, b in zip(own, alt):
        ax.plot([0, 1], [a, b], color="#999999", lw=0.8, marker="o", ms=3)
    if len(d):
        ax.plot([0, 1], [own.mean(), alt.mean()], color=_style.color(0), lw=2.2, marker="s", ms=6, label="mean")
        ax.legend(loc="upper left", frameon=False)
    ax.set_xticks([0, 1], [f"{treatment} nomogram\n(received)", f"{other} nomogram\n(swapped)"])
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylim(0, 1)
    ax.set_ylabel("Predicted 2-year PFS")
    ax.set_title(f"{treatment} patients, n = {len(d)}", fontsize=9)
    return fig, {"patients": list(d.index), "own": own, "swapped": alt}


def _arm_sections(report: Report, result: Any, t: str) -> None:
    from hccrisk.report import figures

    arm = result.arms[t]
    pts = result.patients[result.patients.treatment == t]
    cut = arm.cutoff
    report.section(f"R-{t}: the Cox-CNN signature of {t} patients",
                   f"X-tile cut-off on the training signature: {cut.cutoff:.3f} (log-rank chi2 {cut.chisq:.2f}, "
                   f"Miller-Siegmund corrected P {cut.p_value:.3g}); applied unchanged to validation. Training took "
                   f"{arm.train_seconds:.0f} s.")
    report.table(f"performance_{t.lower()}", _performance_table(arm),
                 caption=f"R-{t}: Harrell's C-index (95% CI), HR of high vs low risk (Cox, 95% CI), log-rank P")
    for cohort in ("training", "validation"):
        d = pts[pts.cohort == cohort]
        group = np.where(d[f"high_{t}"] == 1, "High risk", "Low risk")
        order = [g for g in ("Low risk", "High risk") if g in set(group)]
        fig, numbers = figures.km_figure(d.pfs_time, d.pfs_event, group, group_order=order,
                                         ylabel="Progression-free survival", title=f"R-{t}, {cohort} cohort")
        report.figure(f"km_{t.lower()}_{cohort}", fig, numbers,
                      caption=f"Kaplan-Meier PFS of the R-{t} risk groups, {cohort} cohort (log-rank P in the panel).")

    report.section(f"{t} nomogram of 2-year PFS",
                   "Cox model on the training cohort: clinical candidates + signature, backward AIC, then "
                   "covariates with P >= 0.05 dropped one at a time (missing values: training median).")
    report.table(f"nomogram_selection_{t.lower()}", arm.selection_steps, caption="Selection steps")
    report.table(f"nomogram_model_{t.lower()}", arm.nomogram_table, digits=4, caption=f"{t} nomogram: Cox model")
    labels = {c: LABELS.get(c, c) for c in arm.nomogram_covariates}
    fig, numbers = figures.nomogram_figure(arm.nomogram, labels=labels, probability_label="2-year PFS")
    report.figure(f"nomogram_{t.lower()}", fig, numbers, caption=f"Nomogram of 2-year PFS after {t}")
    nomo = arm.nomogram_performance.copy()
    nomo.insert(3, "C-index (95% CI)", [_ci(*r) for r in zip(nomo["C-index"], nomo["C low"], nomo["C high"])])
    report.table(f"nomogram_performance_{t.lower()}", nomo.drop(columns=["C-index", "C low", "C high"]),
                 caption="Nomogram with and without the signature: C-index, Hosmer-Lemeshow test of 2-year PFS "
                 "(10 groups; patients censored before 2 years without progression are left out)")
    known = pts[pts.pfs_time >= 24].index.union(pts[(pts.pfs_event == 1) & (pts.pfs_time < 24)].index)
    d = pts.loc[known].sort_values("cohort", kind="stable")  # training panel first
    cohorts = d.cohort.str.capitalize().to_numpy()
    pfs_free = (d.pfs_time >= 24).astype(int).to_numpy()
    pairs = {"Nomogram": (pfs_free, d[f"pfs2y_{t}"].to_numpy())}
    fig, numbers = figures.calibration_figure(pairs, cohorts=cohorts, n_bins=5)
    report.figure(f"calibration_{t.lower()}", fig, numbers,
                  caption=f"{t} nomogram: observed vs predicted 2-year PFS (5 quantile groups; HL P in the legend).")
    prog = 1 - pfs_free
    dca = {"Nomogram (clinical + signature)": (prog, 1 - d[f"pfs2y_{t}"].to_numpy())}
    if f"pfs2y_clinical_{t}" in d:
        dca["Clinical only"] = (prog, 1 - d[f"pfs2y_clinical_{t}"].to_numpy())
    fig, numbers = figures.decision_figure(dca, cohorts=cohorts)
    report.figure(f"decision_{t.lower()}", fig, numbers,
                  caption=f"Decision curves of progression within 2 years after {t}, with and without the signature.")


def write_liu2020_report(result: Any, out_dir: str | Path, cohort_dir: str | Path, meta: Mapping[str, Any],
                         failures: pd.DataFrame, seconds: float) -> Path:
    """Write ``out_dir/report.html`` (+ tables/, figures/, figures.json, provenance.json)."""
    from hccrisk.reproduce.liu2020 import SPLIT_RATIO

    report = Report("liu2020 reproduction: CEUS Cox-CNN per treatment, nomograms and treatment swap",
                    Path(out_dir), seed=result.seed)
    pts = result.patients
    report.record("cohort", {"path": str(cohort_dir), **{k: meta.get(k) for k in ("n_patients", "seed", "signal", "modality")}})
    report.record("split", {t: {"tries": a.split_tries, "pfs_logrank_p": a.pfs_logrank_p,
                                "training_ids": list(pts.index[(pts.treatment == t) & (pts.cohort == "training")]),
                                "validation_ids": list(pts.index[(pts.treatment == t) & (pts.cohort == "validation")])}
                            for t, a in result.arms.items()})
    report.record("cox_cnn", {"config": result.config, "cutoffs": {t: a.cutoff.cutoff for t, a in result.arms.items()}})
    report.record("wall_seconds", round(seconds, 1))

    counts = ", ".join(f"{t} {int((pts.treatment == t).sum())}" for t in result.arms)
    report.section("Study", (
        f"Liu et al. 2020 (Liver Cancer, DOI 10.1159/000505694): CEUS cines before RFA or surgical resection (SR); "
        f"endpoint progression-free survival (pfs_time, pfs_event). Patients: {counts}. Each treatment is split "
        f"{SPLIT_RATIO[0]}:{SPLIT_RATIO[1]} at random (seed {result.seed}), redrawn until no baseline variable and "
        f"not the PFS differ (P >= 0.05). Cox-CNN: liu2025's CEUS trunk with a 1-unit log-hazard head, trained "
        f"with the Cox partial likelihood ({result.config['ties']} ties), {result.config['epochs']} epochs, on "
        f"the AP (0-30 s), PP (30-120 s) and VP (120-180 s) cine inside the tumour box + 1 cm; one model per "
        f"treatment, fitted on its training cohort only."))
    if meta:
        report.paragraph(f"Synthetic cohort: seed {meta.get('seed')}, planted signal {meta.get('signal')}, "
                         f"{meta.get('n_patients')} patients.")
    if len(failures):
        report.note(f"{len(failures)} patients had no usable CEUS input and were left out (tables/failures.csv).")
        report.table("failures", failures, caption="Failures")
    for note in result.notes:
        report.note(note)
    n_val = int((pts.cohort == "validation").sum())
    if n_val < 60:
        report.note(f"{n_val} validation patients over both treatments: C-index CIs are wide and the "
                    f"Hosmer-Lemeshow test has little power; judge the models on a larger cohort.")

    report.section("Training and validation cohorts")
    tries = pd.DataFrame([{"treatment": t, "splits drawn": a.split_tries, "PFS log-rank P (training vs validation)":
                           a.pfs_logrank_p} for t, a in result.arms.items()])
    report.table("split_tries", tries, caption="Random splits drawn until baseline and PFS were balanced")
    for t, a in result.arms.items():
        if a.baseline is not None:
            report.table(f"baseline_{t.lower()}", readable_baseline(a.baseline),
                         caption=f"Table 2 ({t}): training vs validation")

    for t in result.arms:
        _arm_sections(report, result, t)

    report.section("Treatment swap: cross-stratification",
                   "R-SR applied to RFA patients and R-RFA to SR patients, each with its own training cut-off. "
                   "ori = the model of the received treatment, re = the swapped model; HR/LR = high/low risk.")
    for t, table in result.cross_tables.items():
        report.table(f"cross_{t.lower()}", table, index=True, caption=f"{t} patients: 4 subgroups")
    report.table("swap", result.swap_tests, caption="Swap candidates (high-risk on the received treatment, low-risk "
                 "on the other), Mann-Whitney test of the swapped model's hazards between its groups, and the "
                 "candidates' 2-year PFS from both nomograms (paired t test); 'should swap' = higher PFS on the other")
    for t, other in (("RFA", "SR"), ("SR", "RFA")):
        if not (pts[pts.treatment == t].swap_candidate == 1).any():
            report.paragraph(f"No {t} patient was high-risk under R-{t} and low-risk under R-{other}: no swap "
                             f"candidate, no paired comparison.")
            continue
        fig, numbers = swap_pfs_figure(pts, t, other)
        report.figure(f"swap_pfs_{t.lower()}", fig, numbers,
                      caption=f"Predicted 2-year PFS of the {t} swap candidates under both nomograms.")
    if not result.swap_truth.empty:
        report.section("Swap against the synthetic truth",
                       "truth.csv better_off_swapped = 1 when the other treatment's true 2-year PFS is better by more "
                       "than 5 points. Precision and recall of the received treatment's high-risk group (every "
                       "candidate comes from it), of the candidates and of those who 'should swap'; enrichment P = "
                       "one-sided hypergeometric P of that many true positives among as many patients flagged at "
                       "random; true gain = mean true 2-year PFS gain from the other treatment (truth.csv "
                       "p_pfs_2y_rfa, p_pfs_2y_sr) of the flagged and of the other patients.")
        report.table("swap_truth", result.swap_truth)
    if not result.truth_c_index.empty:
        report.section("Best achievable (synthetic truth)",
                       "Harrell's C of each signature next to that of the true linear predictor of the recurrence "
                       "hazard (truth.csv lp_recurrence) on the same patients, and their paired difference with its "
                       "SE (infinitesimal jackknife, as R concordance(); on ~20 validation patients ~0.07).")
        report.table("truth_c_index", result.truth_c_index)
    pts.to_csv(report.out_dir / "tables" / "patients.csv")
    report.paragraph("Per-patient signatures, risk groups, 2-year PFS of both nomograms and swap flags: "
                     "tables/patients.csv.")
    return report.write()
