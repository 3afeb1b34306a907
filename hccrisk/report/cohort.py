"""The cohort overview report: what was ingested, who the patients are, and how outcomes relate to the
clinical variables (Table 1, clinical logistic model, Kaplan-Meier curves). Every reproduction starts
from the same overview; ``hccrisk demo`` writes it for the built-in synthetic cohort."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from hccrisk.cohort import CATEGORICAL_CLINICAL, NUMERIC_CLINICAL, load_cohort
from hccrisk.errors import HccriskError
from hccrisk.log import get_logger
from hccrisk.report.html import Report

log = get_logger(__name__)

#: Binary early-recurrence endpoint of the overview (liu2025, zhao2024: recurrence within 2 years).
ER_ENDPOINT = "er_2y"


def _ingest_summary(ingest_dir: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    manifest = ingest_dir / "manifest.csv"
    problems = ingest_dir / "problems.csv"
    man = pd.read_csv(manifest) if manifest.is_file() else None
    prob = pd.read_csv(problems) if problems.is_file() and problems.stat().st_size > 0 else None
    return man, prob


def _manifest_counts(man: pd.DataFrame) -> pd.DataFrame:
    """Series found and used per role (CEUS clip, MRI phase), from the ingest manifest."""
    role = next((c for c in ("role", "phase", "kind") if c in man.columns), None)
    used = next((c for c in ("used", "selected") if c in man.columns), None)
    if role is None:
        return pd.DataFrame({"series found": [len(man)]})
    counts = man.groupby(role, dropna=False).size().rename("series found").to_frame()
    if used is not None:
        counts["used"] = man.groupby(role, dropna=False)[used].sum()
    return counts.reset_index()


def cohort_overview(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None,
                    seed: int | None = None) -> Path:
    """Write ``out_dir/report.html`` (+ tables, figures, JSON) for the cohort; return its path."""
    from hccrisk import stats
    from hccrisk.report import figures

    cohort_dir, out_dir = Path(cohort_dir), Path(out_dir)
    has_truth = (cohort_dir / "truth.csv").is_file()
    df = load_cohort(cohort_dir, with_truth=has_truth)
    meta_path = cohort_dir / "cohort.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    report = Report(f"Cohort overview: {cohort_dir.name}", out_dir, seed=meta.get("seed", seed))
    report.record("cohort", {"path": str(cohort_dir), **{k: meta.get(k) for k in
                             ("n_patients", "seed", "signal", "modality", "size")}})

    report.section("Cohort", f"{len(df)} patients; endpoint of the binary analyses: {ER_ENDPOINT} "
                   "(recurrence within 2 years of treatment).")
    if meta:
        report.paragraph(f"Synthetic cohort: seed {meta.get('seed')}, planted signal {meta.get('signal')}, "
                         f"modality {meta.get('modality')}, size preset {meta.get('size')}.")

    if ingest_dir is not None:
        man, prob = _ingest_summary(Path(ingest_dir))
        report.section("Ingest")
        if man is not None:
            report.table("ingest_series", _manifest_counts(man), caption="Series found and used by role")
        if prob is not None and len(prob):
            report.note(f"{len(prob)} problems were reported by the ingest (tables/ingest_problems.csv); "
                        "the other patients were processed.")
            report.table("ingest_problems", prob.head(50), caption="Ingest problems (first 50)")

    numeric = [c for c in NUMERIC_CLINICAL if c in df]
    categorical = [c for c in CATEGORICAL_CLINICAL if c in df]
    report.section("Baseline characteristics")
    others = [c for c in categorical if c != "treatment"]
    labelled = df[df[ER_ENDPOINT].notna()].copy()
    labelled["early_recurrence"] = labelled[ER_ENDPOINT].map({1: "ER", 0: "no ER"})
    for name, data, group, caption in (
        ("baseline_by_treatment", df, "treatment", "Table 1. Baseline by treatment (mean ± SD or median "
         "(IQR) by normality; test named per row)"),
        ("baseline_by_er", labelled, "early_recurrence", f"Baseline by early recurrence ({ER_ENDPOINT})"),
    ):
        cats = others + (["treatment"] if group != "treatment" else [])
        try:
            report.table(name, stats.baseline_table(data, group, variables=numeric + cats, categorical=cats),
                         caption=caption)
        except HccriskError as exc:  # e.g. a group too small on a tiny cohort: say so, keep the rest
            report.note(f"{caption}: not computed ({exc})")

    report.section("Clinical model of early recurrence",
                   "Univariate logistic regression (P < 0.10 to enter), then multivariable stepwise "
                   "(P < 0.05 to stay), as liu2025. AFP enters as log10(AFP).")
    candidates = [c for c in numeric if c != "afp"] + ["log10_afp"] + [c for c in categorical if c != "treatment"]
    try:
        sel = stats.univariate_then_multivariable_logit(
            labelled, ER_ENDPOINT, candidates, p_enter=0.10, p_keep=0.05,
            categorical=[c for c in categorical if c != "treatment"])
        report.table("clinical_univariate", sel.univariate, caption="Univariate logistic regression")
        report.table("clinical_multivariable", sel.multivariable, caption="Multivariable logistic regression")
        if len(sel.multivariable):
            fig, numbers = figures.forest_figure(sel.multivariable, measure="OR",
                                                 title="Multivariable clinical model")
            report.figure("clinical_forest", fig, numbers, caption="Odds ratios with 95% CI")
    except HccriskError as exc:  # e.g. separation on a tiny cohort: say so, keep the rest
        report.note(f"Clinical model not fitted: {exc}")

    report.section("Survival")
    for time_col, event_col, label in (("pfs_time", "pfs_event", "Progression-free survival"),
                                       ("os_time", "os_event", "Overall survival")):
        fig, numbers = figures.km_figure(df[time_col], df[event_col], df["treatment"],
                                         ylabel=label, title=f"{label} by treatment")
        report.figure(f"km_{time_col.split('_')[0]}_treatment", fig, numbers,
                      caption=f"{label} by treatment (Kaplan-Meier, numbers at risk, log-rank p)")

    if has_truth and "p_er_2y" in df:
        best = stats.auc_ci(labelled[ER_ENDPOINT], labelled["p_er_2y"])
        report.section("Best achievable (synthetic truth)",
                       f"AUC of the true 2-year risk for {ER_ENDPOINT}: {best.auc:.3f} "
                       f"(95% CI {best.low:.3f}-{best.high:.3f}, DeLong). A model can at best approach this.")
        report.record("true_risk_auc", best.as_dict())
    path = report.write()
    log.info("cohort overview written to %s", path)
    return path
