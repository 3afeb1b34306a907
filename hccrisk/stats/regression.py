"""Logistic regression for clinical models: univariate screening, then a multivariable model.

The papers' recipe (liu2025 P < 0.10, zhao2024 / chen2025 P < 0.05): each candidate alone in a
logistic model; those under ``p_enter`` go on to a multivariable model, entered together ("enter"),
reduced by backward elimination ("backward"), or selected stepwise ("stepwise": forward entry at
``p_enter``, removal at ``p_keep``). Fits: statsmodels ``Logit`` (maximum likelihood, as R ``glm``);
odds ratios with Wald CIs (R ``confint.default``) and Wald p; collinearity by the variance inflation
factor. Categorical candidates become treatment dummies against their first level (sorted), as R.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.outliers_influence import variance_inflation_factor
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError, PerfectSeparationWarning

from hccrisk.stats._binary_checks import StatsInputError, check_level
from hccrisk.stats._result import Result

__all__ = ["LogitSelection", "univariate_then_multivariable_logit", "logit_table"]


@dataclasses.dataclass(frozen=True)
class LogitSelection(Result):
    """``univariate``: one row per term of each candidate fitted alone (OR, low, high, p_value, the
    variable-level p used for selection, n used, ``note``: why a candidate could not be fitted, e.g.
    separation; such a candidate is screened out). ``multivariable``: the final model's terms (OR, low,
    high, p_value) on ``n_multivariable`` complete cases. ``vif``: one row per term of the final model.
    ``selected``: the variables kept, in order of entry. ``model``: the fitted statsmodels result."""

    univariate: pd.DataFrame
    multivariable: pd.DataFrame
    vif: pd.DataFrame
    selected: tuple[str, ...]
    n_multivariable: int
    model: Any = dataclasses.field(compare=False, repr=False)


def _design(df: pd.DataFrame, variables: Sequence[str], categorical: set[str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numeric design matrix (no constant) and the term names belonging to each variable."""
    parts, terms = [], {}
    for v in variables:
        col = df[v]
        if v in categorical or not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            levels = _sorted_levels(col.dropna().unique())
            dummies = pd.DataFrame({f"{v}[{lev}]": (col == lev).astype(float) for lev in levels[1:]}, index=df.index)
            dummies[col.isna()] = np.nan
            parts.append(dummies)
            terms[v] = list(dummies.columns)
        else:
            parts.append(col.astype(float).rename(v).to_frame())
            terms[v] = [v]
    return pd.concat(parts, axis=1), terms


def _sorted_levels(levels: Any) -> list[Any]:
    """Levels in R's factor order: numeric order for numbers, else alphabetical."""
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def _fit(y: pd.Series, x: pd.DataFrame, what: str) -> Any:
    """Logit fit with the constant first; a clear error for separation or non-convergence."""
    design = sm.add_constant(x, has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("error", ConvergenceWarning)
            return sm.Logit(y, design).fit(disp=0, method="newton", maxiter=100, tol=1e-10)
    except (PerfectSeparationError, PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as exc:
        raise StatsInputError(what, f"logistic model cannot be fitted ({type(exc).__name__}: {exc})") from None


def logit_table(result: Any, level: float = 0.95) -> pd.DataFrame:
    """Odds ratios of a fitted Logit: term, coef, se, OR, Wald ``level`` CI (low, high), z, p_value."""
    z_crit = stats.norm.ppf(1 - (1 - check_level(level)) / 2)
    params, se = result.params.drop("const"), result.bse.drop("const")
    return pd.DataFrame({
        "term": params.index, "coef": params.to_numpy(), "se": se.to_numpy(), "OR": np.exp(params.to_numpy()),
        "low": np.exp(params.to_numpy() - z_crit * se.to_numpy()), "high": np.exp(params.to_numpy() + z_crit * se.to_numpy()),
        "z": result.tvalues.drop("const").to_numpy(), "p_value": result.pvalues.drop("const").to_numpy(),
    })


def _variable_p(result: Any, terms: list[str]) -> float:
    """Wald p of one variable: its term's p, or the joint Wald chi-square for a multi-level factor."""
    if len(terms) == 1:
        return float(result.pvalues[terms[0]])
    restriction = np.zeros((len(terms), len(result.params)))
    for i, t in enumerate(terms):
        restriction[i, list(result.params.index).index(t)] = 1.0
    return float(result.wald_test(restriction, scalar=True).pvalue)


def univariate_then_multivariable_logit(
    df: pd.DataFrame,
    outcome: str,
    candidates: Sequence[str],
    p_enter: float = 0.10,
    p_keep: float = 0.05,
    method: Literal["stepwise", "backward", "enter"] = "stepwise",
    categorical: Sequence[str] = (),
    level: float = 0.95,
) -> LogitSelection:
    """Univariate logistic screening of ``candidates`` for the 0/1 column ``outcome``, then a
    multivariable model of those with univariate p < ``p_enter`` (see the module docstring).

    Missing values: each univariate model uses its own complete cases; selection runs on the complete
    cases of all screened-in variables (one sample for every step); the final model is refitted on the
    complete cases of the selected variables. Each table reports the n it used.
    """
    missing_cols = [c for c in [outcome, *candidates] if c not in df.columns]
    if missing_cols:
        raise StatsInputError("df", f"has no column(s) {missing_cols}")
    if method not in ("stepwise", "backward", "enter"):
        raise StatsInputError("method", f"must be 'stepwise', 'backward' or 'enter', got {method!r}")
    y_all = df[outcome]
    bad = ~y_all.dropna().isin([0, 1])
    if bad.any() or y_all.dropna().nunique() < 2:
        raise StatsInputError(outcome, "must be a 0/1 outcome holding both classes")
    design, terms = _design(df, list(candidates), set(categorical))

    uni_rows, uni_p = [], {}
    for v in candidates:
        rows = pd.concat([y_all, design[terms[v]]], axis=1).dropna()
        try:
            res = _fit(rows[outcome].astype(float), rows[terms[v]], f"univariate model of {v!r}")
        except StatsInputError as exc:
            # One unfittable candidate (e.g. a rare level with only events) is screened out and
            # reported, as a statistician would, instead of stopping the whole analysis.
            uni_p[v] = float("nan")
            uni_rows.append(pd.DataFrame({"variable": [v], "term": terms[v][:1], "variable_p": [np.nan],
                                          "n": [len(rows)], "note": [f"not fitted: {exc}"]}))
            continue
        uni_p[v] = _variable_p(res, terms[v])
        table = logit_table(res, level)
        table.insert(0, "variable", v)
        uni_rows.append(table.assign(variable_p=uni_p[v], n=len(rows), note=""))
    univariate = pd.concat(uni_rows, ignore_index=True)

    pool = [v for v in candidates if uni_p[v] < p_enter]  # NaN (not fitted) never enters
    pool_terms = [t for v in pool for t in terms[v]]
    data = pd.concat([y_all, design[pool_terms]], axis=1).dropna()
    y = data[outcome].astype(float)

    def fit(vs: list[str]) -> Any:
        return _fit(y, data[[t for v in vs for t in terms[v]]], f"multivariable model of {vs}")

    if method == "enter":
        selected = list(pool)
    elif method == "backward":
        selected = list(pool)
        while selected:
            res = fit(selected)
            worst = max(selected, key=lambda v: _variable_p(res, terms[v]))
            if _variable_p(res, terms[worst]) <= p_keep:
                break
            selected.remove(worst)
    else:
        selected = _stepwise(pool, fit, terms, p_enter, p_keep)

    if not selected:
        empty = pd.DataFrame(columns=["term", "coef", "se", "OR", "low", "high", "z", "p_value"])
        return LogitSelection(univariate, empty, pd.DataFrame(columns=["term", "vif"]), (), 0, None)
    final_terms = [t for v in selected for t in terms[v]]
    final = pd.concat([y_all, design[final_terms]], axis=1).dropna()
    model = _fit(final[outcome].astype(float), final[final_terms], f"multivariable model of {selected}")
    return LogitSelection(univariate, logit_table(model, level), _vif(final[final_terms]), tuple(selected), len(final), model)


def _stepwise(pool: list[str], fit: Any, terms: dict[str, list[str]], p_enter: float, p_keep: float) -> list[str]:
    """Forward entry of the most significant variable (p < p_enter), then removal of any p > p_keep."""
    selected: list[str] = []
    seen: set[tuple[str, ...]] = set()
    while True:
        outside = [v for v in pool if v not in selected]
        entry = {v: _variable_p(fit(selected + [v]), terms[v]) for v in outside}
        best = min(entry, key=entry.get) if entry else None
        if best is None or entry[best] >= p_enter:
            return selected
        selected.append(best)
        while len(selected) > 1:
            res = fit(selected)
            worst = max(selected, key=lambda v: _variable_p(res, terms[v]))
            if _variable_p(res, terms[worst]) <= p_keep:
                break
            selected.remove(worst)
        state = tuple(sorted(selected))
        if state in seen:  # entering and removing the same variable forever: stop where we are
            return selected
        seen.add(state)


def _vif(x: pd.DataFrame) -> pd.DataFrame:
    """Variance inflation factor of each term, computed with the intercept in the design."""
    design = sm.add_constant(x, has_constant="add").to_numpy(float)
    if x.shape[1] == 1:
        return pd.DataFrame({"term": x.columns, "vif": [1.0]})
    return pd.DataFrame({"term": x.columns, "vif": [variance_inflation_factor(design, i + 1) for i in range(x.shape[1])]})
