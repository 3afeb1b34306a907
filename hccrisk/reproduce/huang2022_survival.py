"""huang2022's survival side, fitted on the training cohort only and applied unchanged to validation:

- OS: the DLR score (``huang2022_os_score``: univariate Cox C-index > 0.58 -> L1-penalised Cox); clinical
  Cox model (univariate P < 0.05 -> multivariable stepwise) and clinical + DLR; X-tile risk groups; C-index;
  calibration at 1, 3, 5 years; prediction-error (Brier) curves; survival NRI at 3 years.
(Fine-Gray for early recurrence and the four classes: ``huang2022_competing``.)

Times are months (outcomes.csv).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hccrisk.errors import HccriskError
from hccrisk.log import get_logger
from hccrisk.reproduce.huang2022_os_score import OS, dlr_os_score

log = get_logger(__name__)

CALIBRATION_MONTHS = (12.0, 36.0, 60.0)
NRI_MONTHS = 36.0
#: Clinical candidates as numbers (dummy / ordinal codes made by ``clinical_design``).
CLINICAL_NUMERIC = ("age", "log10_afp", "alb", "ast", "alt", "ggt", "tbil", "pt", "plt", "wbc", "tumour_size")
CLINICAL_CODED = ("sex_male", "hbv", "cirrhosis", "child_pugh_b", "multiple_tumours", "treatment_sr", "bclc_stage")


def clinical_design(data: pd.DataFrame, train: Sequence[str]) -> pd.DataFrame:
    """Numeric clinical candidates per patient: continuous values as they are (AFP as log10), categories
    coded 0/1 (sex_male, child_pugh_b, multiple_tumours = more than one nodule, treatment_sr) or ordinal
    (bclc_stage 0/A/B = 0/1/2); missing values filled with the training cohort's median."""
    out = pd.DataFrame(index=data.index)
    for c in CLINICAL_NUMERIC:
        if c in data:
            out[c] = pd.to_numeric(data[c], errors="coerce")
    coded = {"sex_male": ("sex", lambda s: (s == "M").astype(float)),
             "hbv": ("hbv", lambda s: pd.to_numeric(s, errors="coerce")),
             "cirrhosis": ("cirrhosis", lambda s: pd.to_numeric(s, errors="coerce")),
             "child_pugh_b": ("child_pugh", lambda s: (s == "B").astype(float)),
             "multiple_tumours": ("tumour_number", lambda s: (pd.to_numeric(s, errors="coerce") > 1).astype(float)),
             "treatment_sr": ("treatment", lambda s: (s == "SR").astype(float)),
             "bclc_stage": ("bclc", lambda s: s.astype(str).map({"0": 0.0, "A": 1.0, "B": 2.0}))}
    for name, (col, fn) in coded.items():
        if col in data:
            values = fn(data[col]).astype(float)
            out[name] = values.where(data[col].notna())
    out = out.fillna(out.loc[list(train)].median())
    return out.loc[:, out.loc[list(train)].std() > 0]  # a constant candidate has no effect to estimate


MODELS = ("DLR", "Clinical", "Clinical + DLR")  #: the OS models, in table order


@dataclass
class SurvivalModels:
    """The OS models and every table derived from them (see the module docstring). A model that could not
    be formed (no DLR feature selected: DLR and clinical + DLR) is absent from ``models``, ``scores`` and
    ``survival``; ``dlr_missing`` then says why, with the numbers."""

    univariate_c: pd.DataFrame
    lambda_cv: pd.DataFrame
    dlr_coefficients: pd.DataFrame
    clinical_univariate: pd.DataFrame
    multivariable: pd.DataFrame  #: the clinical + DLR Cox model (the clinical model when no DLR score)
    clinical_selected: list[str]
    scores: pd.DataFrame  #: per patient: dlr_os (DLR score), lp of each formed model
    survival: dict[str, pd.DataFrame]  #: model -> (patients x CALIBRATION_MONTHS) predicted S(t)
    models: dict[str, Any]  #: name -> CoxFit, None for a model without covariates (clinical, nothing selected)
    notes: list[str] = field(default_factory=list)
    dlr_missing: str | None = None  #: why no OS DLR score was formed (None: formed)


def fit_os_models(data: pd.DataFrame, features: pd.DataFrame, clinical: pd.DataFrame, train: list[str],
                  seed: int) -> SurvivalModels:
    """The OS pipeline on ``features`` (patients x DLR features, already z-scored with training stats).
    Without a DLR score (the L1-Cox selected nothing) the clinical model is fitted alone and the DLR and
    clinical + DLR models are absent, with ``dlr_missing`` saying why."""
    notes: list[str] = []
    t_tr, e_tr = data.loc[train, OS[0]].to_numpy(float), data.loc[train, OS[1]].to_numpy(int)
    uni_table, cv, coefs, dlr, missing = dlr_os_score(features, data, train, seed, notes)
    table = pd.concat([data[list(OS)].astype(float), clinical] + ([dlr] if dlr is not None else []), axis=1)
    clinical_ok = _fittable(table.loc[train], list(clinical.columns), notes)
    dlr_cols = ["dlr_os"] if dlr is not None else []
    selection = _stepwise(table.loc[train], clinical_ok + dlr_cols, notes)
    univariate = selection.univariate if selection is not None else pd.DataFrame()
    clin_sel = [c for c in selection.selected if c != "dlr_os"] if selection is not None else []
    if not clin_sel and dlr is not None:  # the DLR score took every clinical variable's place: a clinical model of their own
        alone = _stepwise(table.loc[train], clinical_ok, notes)
        clin_sel = list(alone.selected) if alone is not None else []
        if clin_sel:
            notes.append("No clinical variable stayed significant beside the DLR score; the clinical model uses the "
                         f"clinical variables selected without it ({', '.join(clin_sel)}).")
    models: dict[str, Any] = {}
    if dlr is not None:
        models["DLR"] = _cox_or_ridge(table.loc[train], ["dlr_os"], "DLR", notes)
    models["Clinical"] = _cox_or_ridge(table.loc[train], clin_sel, "Clinical", notes) if clin_sel else None
    if dlr is not None:
        models["Clinical + DLR"] = _cox_or_ridge(table.loc[train], clin_sel + ["dlr_os"], "Clinical + DLR", notes)
    if not clin_sel:
        notes.append("No clinical variable was significant in the multivariable OS model: the clinical model is "
                     "empty (C-index 0.5)" + (" and clinical + DLR equals the DLR model." if dlr is not None else "."))
    scores = pd.DataFrame(({"dlr_os": dlr} if dlr is not None else {}), index=features.index)
    survival = {}
    for name, fit in models.items():
        scores[f"lp {name}"] = fit.linear_predictor(table) if fit is not None else 0.0
        survival[name] = pd.DataFrame(predicted_survival_curve(fit, table, np.array(CALIBRATION_MONTHS), t_tr, e_tr),
                                      index=table.index, columns=list(CALIBRATION_MONTHS))
    final = models.get("Clinical + DLR", models["Clinical"])
    multivariable = final.table.reset_index() if final is not None else pd.DataFrame(columns=["covariate"])
    return SurvivalModels(uni_table, cv, coefs, univariate.reset_index(), multivariable, clin_sel, scores, survival,
                          models, notes, missing)


RIDGE = 0.01  #: ridge penalty (glmnet scale) of a Cox model whose maximum likelihood is infinite


def _cox_or_ridge(df: pd.DataFrame, covariates: list[str], name: str, notes: list[str]) -> Any:
    """Maximum partial likelihood Cox fit; when the training deaths are perfectly ordered by the covariates
    (monotone likelihood: no finite estimate, common for an overfitted score on a small cohort), a lightly
    ridge-penalised fit (``RIDGE``) instead, with a note."""
    from hccrisk import stats

    try:
        with np.errstate(all="ignore"):
            return stats.cox_fit(df, *OS, covariates)
    except (HccriskError, np.linalg.LinAlgError) as exc:
        notes.append(f"{name} Cox model: no finite maximum-likelihood estimate ({exc}); ridge-penalised "
                     f"(lambda {RIDGE}) instead.")
        return stats.cox_fit(df, *OS, covariates, penalizer=RIDGE, l1_ratio=0.0, ties="breslow")


def _stepwise(table: pd.DataFrame, candidates: list[str], notes: list[str]) -> Any:
    """``univariate_then_multivariable_cox`` (P < 0.05 in, P > 0.05 out), or None with a note when a step has
    no finite estimate (e.g. a combination that orders the training deaths perfectly)."""
    from hccrisk import stats

    try:
        with np.errstate(all="ignore"):
            return stats.univariate_then_multivariable_cox(table, *OS, candidates, p_enter=0.05, p_keep=0.05,
                                                            method="stepwise")
    except (HccriskError, np.linalg.LinAlgError) as exc:
        notes.append(f"Stepwise Cox selection among {len(candidates)} candidates failed ({exc}).")
        return None


def _fittable(table: pd.DataFrame, candidates: list[str], notes: list[str]) -> list[str]:
    """The candidates whose univariate Cox model has a finite estimate (a category without deaths has none)."""
    from hccrisk import stats

    ok = []
    for c in candidates:
        try:
            with np.errstate(all="ignore"):
                stats.cox_fit(table, *OS, [c])
            ok.append(c)
        except (HccriskError, np.linalg.LinAlgError) as exc:
            notes.append(f"{c} left out of the OS candidates: its univariate Cox model has no finite estimate ({exc}).")
    return ok


def _km_at(time: np.ndarray, event: np.ndarray, times: Sequence[float]) -> np.ndarray:
    from hccrisk.stats.survival import km_at, km_steps

    return np.asarray(km_at(km_steps(time, event), np.asarray(times, float)), dtype=float)


def predicted_survival_curve(model: Any, table: pd.DataFrame, times: np.ndarray, time: np.ndarray,
                             event: np.ndarray) -> np.ndarray:
    """(n, len(times)) S(t | x) of a Cox fit (the training KM for an empty model, None)."""
    if model is not None:
        return model.predict_survival(table, times)
    return np.tile(_km_at(time, event, times), (len(table), 1))


def c_index_table(data: pd.DataFrame, scores: pd.DataFrame, cohorts: dict[str, list[str]],
                  extra: dict[str, pd.Series] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Harrell's C (95% CI) of every formed model's linear predictor per cohort, and the paired comparisons
    clinical + DLR vs clinical and DLR vs clinical (when both models are formed)."""
    from hccrisk import stats

    rows, comps = [], []
    risk = {m: scores[f"lp {m}"] for m in MODELS if f"lp {m}" in scores}
    risk.update(extra or {})
    for cohort, ids in cohorts.items():
        t, e = data.loc[ids, OS[0]].to_numpy(float), data.loc[ids, OS[1]].to_numpy(int)
        for name, r in risk.items():
            v = r.loc[ids].to_numpy(float)
            c = stats.harrell_c(t, e, v) if np.ptp(v) > 0 else None
            rows.append({"model": name, "cohort": cohort, "n": len(ids), "deaths": int(e.sum()),
                         "C-index": c.c if c else 0.5, "low": c.low if c else np.nan, "high": c.high if c else np.nan})
        for a, b in (("Clinical + DLR", "Clinical"), ("DLR", "Clinical")):
            if a not in risk or b not in risk:
                continue
            va, vb = risk[a].loc[ids].to_numpy(float), risk[b].loc[ids].to_numpy(float)
            if np.ptp(vb) == 0:
                vb = np.zeros_like(vb)
            cmp = stats.compare_c(t, e, va, vb) if np.ptp(va) > 0 and np.ptp(vb) > 0 else None
            comps.append({"cohort": cohort, "comparison": f"{a} vs {b}", "difference": cmp.difference if cmp else np.nan,
                          "se": cmp.se if cmp else np.nan, "P": cmp.p_value if cmp else np.nan})
    return pd.DataFrame(rows), pd.DataFrame(comps)


def time_auc_table(data: pd.DataFrame, scores: pd.DataFrame, cohorts: dict[str, list[str]], train: list[str]
                   ) -> pd.DataFrame:
    """Uno's time-dependent AUC of each OS model's linear predictor at 1, 3 and 5 years (censoring from the
    training cohort); a time outside a cohort's follow-up is left out."""
    from hccrisk import stats

    t_tr, e_tr = data.loc[train, OS[0]].to_numpy(float), data.loc[train, OS[1]].to_numpy(int)
    rows = []
    for cohort, ids in cohorts.items():
        t, e = data.loc[ids, OS[0]].to_numpy(float), data.loc[ids, OS[1]].to_numpy(int)
        times = [m for m in CALIBRATION_MONTHS if t[e == 1].min(initial=np.inf) <= m < t.max()]
        for m in (m for m in MODELS if f"lp {m}" in scores):
            r = scores.loc[ids, f"lp {m}"].to_numpy(float)
            if not times or np.ptp(r) == 0:
                continue
            try:
                auc = stats.time_dependent_auc(t, e, r, times, train_time=t_tr, train_event=e_tr)
            except HccriskError:
                continue
            rows += [{"model": m, "cohort": cohort, "months": k, "AUC(t)": a} for k, a in zip(auc.times, auc.auc)]
    return pd.DataFrame(rows)


def risk_groups(data: pd.DataFrame, scores: pd.DataFrame, train: list[str]) -> tuple[pd.DataFrame, dict[str, float]]:
    """X-tile cut-off of each model's linear predictor on the training cohort (log-rank maximised, >= 10%
    per group); returns (per patient 0 low / 1 high per model, {model: cut-off})."""
    from hccrisk import stats

    t, e = data.loc[train, OS[0]].to_numpy(float), data.loc[train, OS[1]].to_numpy(int)
    groups, cuts = pd.DataFrame(index=scores.index), {}
    for m in (m for m in MODELS if f"lp {m}" in scores):
        lp = scores[f"lp {m}"]
        if np.ptp(lp.loc[train]) == 0:
            continue
        cut = stats.xtile_cutoff(t, e, lp.loc[train].to_numpy()).cutoff
        cuts[m] = cut
        groups[m] = stats.apply_cutoff(lp.to_numpy(), cut)
    return groups, cuts


def group_hazard_table(data: pd.DataFrame, groups: pd.DataFrame, cohorts: dict[str, list[str]]) -> pd.DataFrame:
    """HR (95% CI) of the high vs low X-tile group and the log-rank P, per model and cohort."""
    from hccrisk import stats

    rows = []
    for m in groups.columns:
        for cohort, ids in cohorts.items():
            df = data.loc[ids, list(OS)].astype(float).assign(high=groups.loc[ids, m].astype(float))
            row = {"model": m, "cohort": cohort, "n high": int(df.high.sum()), "n low": int((1 - df.high).sum())}
            deaths = df.groupby("high")[OS[1]].sum()
            if 0 < df.high.sum() < len(df):
                row["log-rank P"] = stats.logrank(df[OS[0]], df[OS[1]], df.high).p_value
                try:
                    if (deaths == 0).any():
                        raise HccriskError("no death in one group: the HR is not finite")
                    fit = stats.cox_fit(df, *OS, ["high"]).table.loc["high"]
                    row.update({"HR": fit.hr, "HR low": fit.hr_low, "HR high": fit.hr_high})
                except (HccriskError, np.linalg.LinAlgError):  # no death in one group: HR infinite
                    pass
            rows.append(row)
    return pd.DataFrame(rows)


def calibration_tables(data: pd.DataFrame, survival: dict[str, pd.DataFrame], cohorts: dict[str, list[str]],
                       models: Sequence[str] = ("DLR", "Clinical + DLR"), groups: int = 3) -> tuple[pd.DataFrame, list[str]]:
    """Predicted vs Kaplan-Meier S(t) at 1, 3, 5 years by tertile of predicted risk (halves when a tertile
    has < 2 deaths by that time), with the GND test; a time with too few deaths even then is skipped with a
    note."""
    from hccrisk import stats

    rows, notes = [], []
    for m in (m for m in models if m in survival):  # a model not formed (no DLR score) has no curves
        for cohort, ids in cohorts.items():
            t, e = data.loc[ids, OS[0]].to_numpy(float), data.loc[ids, OS[1]].to_numpy(int)
            for month in CALIBRATION_MONTHS:
                cal = None
                for g in range(groups, 1, -1):  # fewer groups when a tertile has < 2 deaths by that time
                    try:
                        cal = stats.survival_calibration(t, e, survival[m].loc[ids, month].to_numpy(), month, groups=g)
                        break
                    except HccriskError as exc:
                        problem = exc
                if cal is None:
                    notes.append(f"Calibration of {m} at {month:g} months ({cohort}) not computed: {problem}")
                    continue
                rows += [{"model": m, "cohort": cohort, "months": month, **r, "GND P": cal.p_value}
                         for r in cal.table.drop(columns=["variance"]).to_dict("records")]
    return pd.DataFrame(rows), notes


def brier_curves(data: pd.DataFrame, models: dict[str, Any], table: pd.DataFrame, cohorts: dict[str, list[str]],
                 train: list[str]) -> tuple[dict[str, dict[str, Any]], pd.DataFrame]:
    """IPCW prediction-error curves (censoring KM of the training cohort) per model and cohort on a
    monthly grid from 3 months (or the first follow-up time) up to the 90th percentile of follow-up; returns ({cohort: {times, model: curve,
    "Kaplan-Meier": reference}}, integrated Brier scores)."""
    from hccrisk import stats

    t_tr, e_tr = data.loc[train, OS[0]].to_numpy(float), data.loc[train, OS[1]].to_numpy(int)
    curves, rows = {}, []
    for cohort, ids in cohorts.items():
        t, e = data.loc[ids, OS[0]].to_numpy(float), data.loc[ids, OS[1]].to_numpy(int)
        lower = max(3.0, float(np.ceil(max(t.min(), t_tr.min()))))  # the IPCW weights need follow-up there
        upper = min(np.quantile(t, 0.9), t_tr.max() - 1, t.max() - 1)
        if upper <= lower + 1:
            continue
        grid = np.arange(lower, upper, 1.0)
        curves[cohort] = {"times": grid}
        for name, fit in models.items():
            pred = predicted_survival_curve(fit, table.loc[ids], grid, t_tr, e_tr)
            bs = stats.brier_survival(t, e, pred, grid, train_time=t_tr, train_event=e_tr)
            curves[cohort][name] = bs.brier
            curves[cohort]["Kaplan-Meier"] = bs.reference
            rows.append({"model": name, "cohort": cohort, "integrated Brier": bs.integrated,
                         "Kaplan-Meier integrated Brier": bs.reference_integrated,
                         "from (months)": grid[0], "to (months)": grid[-1]})
    return curves, pd.DataFrame(rows)


def nri_table(data: pd.DataFrame, survival_at: dict[str, pd.Series], cohorts: dict[str, list[str]], seed: int,
              n_boot: int = 500) -> pd.DataFrame:
    """Category-free survival NRI of clinical + DLR over clinical for OS at 3 years (risk = 1 - S(36)); empty
    when either model is not formed."""
    from hccrisk import stats

    rows = []
    if "Clinical" not in survival_at or "Clinical + DLR" not in survival_at:
        return pd.DataFrame(columns=["cohort", "months", "NRI", "low", "high", "NRI events", "NRI non-events"])
    for cohort, ids in cohorts.items():
        t, e = data.loc[ids, OS[0]].to_numpy(float), data.loc[ids, OS[1]].to_numpy(int)
        old, new = 1 - survival_at["Clinical"].loc[ids].to_numpy(), 1 - survival_at["Clinical + DLR"].loc[ids].to_numpy()
        r = stats.survival_nri(t, e, old, new, NRI_MONTHS, n_boot=n_boot, seed=seed)
        rows.append({"cohort": cohort, "months": NRI_MONTHS, "NRI": r.nri, "low": r.low, "high": r.high,
                     "NRI events": r.nri_events, "NRI non-events": r.nri_nonevents})
    return pd.DataFrame(rows)
