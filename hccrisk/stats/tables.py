"""Baseline characteristics tables ("Table 1") comparing groups: cohorts or outcome groups.

Continuous variables: mean +- SD when the Shapiro-Wilk test gives p > 0.05 in every group (and each group
has at least 3 values), else median (IQR); compared by Welch's t test (R ``t.test``) or the Mann-Whitney
U test (R ``wilcox.test``: exact below 50 per group without ties, else normal with continuity
correction); with more than two groups Welch's ANOVA (R ``oneway.test``) or Kruskal-Wallis.
Categorical variables: count (% of non-missing); chi-square test (R ``chisq.test``, Yates-corrected for
2 x 2) when every expected count is >= 5, else Fisher's exact test (R ``fisher.test``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from hccrisk.stats._binary_checks import StatsInputError

__all__ = ["baseline_table", "fisher_exact_rxc"]

_MAX_TABLES = 5_000_000  # exact Fisher enumeration limit; beyond it a seeded Monte Carlo p is used


def _level_label(level: object) -> str:
    """A category as a reader expects it: 1 rather than 1.0 (integer codes load as float beside NaN)."""
    if isinstance(level, float) and level.is_integer():
        return str(int(level))
    return str(level)


def baseline_table(
    df: pd.DataFrame,
    group: str,
    variables: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    digits: int = 1,
) -> pd.DataFrame:
    """Summary of ``variables`` overall and per level of ``group``, with a test per variable.

    ``categorical``: variables summarised as counts; by default the non-numeric and boolean columns
    and numeric columns with at most two distinct values (0/1 flags). Rows with a missing ``group``
    are left out. Columns: ``variable``, ``level`` (category, empty for the variable's own row),
    ``overall``, one column per group, ``p_value``, ``test``, ``missing`` (count, all groups) and
    ``missing <group>`` per group. The first row gives the number of patients.
    """
    if group not in df.columns:
        raise StatsInputError("group", f"column {group!r} is not in the table (columns: {list(df.columns)[:10]})")
    data = df[df[group].notna()]
    groups = sorted(data[group].unique(), key=str)
    if len(groups) < 2:
        raise StatsInputError("group", f"column {group!r} needs at least two groups, found {groups}")
    variables = [c for c in df.columns if c != group] if variables is None else list(variables)
    unknown = [v for v in variables if v not in df.columns]
    if unknown:
        raise StatsInputError("variables", f"not in the table: {unknown}")
    if categorical is None:
        categorical = [v for v in variables if _looks_categorical(data[v])]
    parts = [data[data[group] == g] for g in groups]
    labels = [str(g) for g in groups]
    rows = [{"variable": "n", "level": "", "overall": str(len(data)), **{l: str(len(p)) for l, p in zip(labels, parts)}}]
    for v in variables:
        missing = {"missing": int(data[v].isna().sum()), **{f"missing {l}": int(p[v].isna().sum()) for l, p in zip(labels, parts)}}
        if v in categorical:
            rows.extend(_categorical_rows(v, data[v], [p[v] for p in parts], labels, missing))
        else:
            rows.append(_continuous_row(v, data[v], [p[v] for p in parts], labels, missing, digits))
    missing_columns = ["missing", *[f"missing {l}" for l in labels]]
    columns = ["variable", "level", "overall", *labels, "p_value", "test", *missing_columns]
    table = pd.DataFrame(rows).reindex(columns=columns)
    # Counts stay whole numbers (empty on the rows that have none, e.g. a category's levels).
    return table.astype({c: "Int64" for c in missing_columns})


def _looks_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or s.dropna().nunique() <= 2


def _continuous_row(
    name: str, overall: pd.Series, by_group: list[pd.Series], labels: list[str], missing: dict, digits: int
) -> dict:
    try:
        values = [pd.to_numeric(s, errors="raise").dropna().to_numpy(float) for s in by_group]
    except (TypeError, ValueError):
        raise StatsInputError(name, "is not numeric; list it in `categorical`") from None
    if min(len(v) for v in values) < 2:
        raise StatsInputError(name, "needs at least 2 non-missing values in every group")
    normal = all(len(v) >= 3 and np.ptp(v) > 0 and stats.shapiro(v).pvalue > 0.05 for v in values)
    fmt = _mean_sd if normal else _median_iqr
    if len(values) == 2:
        test = "Welch t test" if normal else "Mann-Whitney U test"
        p = stats.ttest_ind(*values, equal_var=False).pvalue if normal else _mann_whitney_p(*values)
    else:
        test = "Welch ANOVA" if normal else "Kruskal-Wallis test"
        p = stats.f_oneway(*values, equal_var=False).pvalue if normal else stats.kruskal(*values).pvalue
    row = {"variable": name, "level": "", "overall": fmt(overall.dropna().to_numpy(float), digits),
           "p_value": float(p), "test": test, **missing}
    row.update({l: fmt(v, digits) for l, v in zip(labels, values)})
    return row


def _mean_sd(v: np.ndarray, digits: int) -> str:
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def _median_iqr(v: np.ndarray, digits: int) -> str:
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])  # R's default (type 7) quantiles
    return f"{med:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def _mann_whitney_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p as R ``wilcox.test(x, y)``: exact when both n < 50 and no ties, else normal + correction."""
    pooled = np.concatenate([x, y])
    exact = len(x) < 50 and len(y) < 50 and len(np.unique(pooled)) == len(pooled)
    method = "exact" if exact else "asymptotic"
    return float(stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True, method=method).pvalue)


def _categorical_rows(
    name: str, overall: pd.Series, by_group: list[pd.Series], labels: list[str], missing: dict
) -> list[dict]:
    levels = sorted(overall.dropna().unique(), key=lambda x: (str(type(x)), x))
    table = np.array([[int((s == lev).sum()) for s in by_group] for lev in levels])  # (levels, groups)
    keep = table.sum(axis=1) > 0
    table = table[keep]
    if table.shape[0] < 2:
        p, test = float("nan"), "no test (one level)"
    else:
        p, test = _categorical_test(table)
    rows = [{"variable": name, "level": "", "p_value": p, "test": test, **missing}]
    n_overall, n_groups = table.sum(), table.sum(axis=0)
    for lev, counts in zip(np.asarray(levels, dtype=object)[keep], table):
        row = {"variable": name, "level": _level_label(lev), "overall": _count_pct(counts.sum(), n_overall)}
        row.update({l: _count_pct(c, n) for l, c, n in zip(labels, counts, n_groups)})
        rows.append(row)
    return rows


def _count_pct(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else "0"


def _categorical_test(table: np.ndarray) -> tuple[float, str]:
    """(p, test name): chi-square when every expected count >= 5, else Fisher's exact test."""
    expected = stats.contingency.expected_freq(table)
    if (expected >= 5).all():
        res = stats.chi2_contingency(table, correction=True)  # Yates only for 2 x 2, as chisq.test
        return float(res.pvalue), "chi-square test"
    if table.shape == (2, 2):
        return float(stats.fisher_exact(table).pvalue), "Fisher's exact test"
    p, exact = fisher_exact_rxc(table)
    return p, "Fisher's exact test" if exact else "Fisher's exact test (Monte Carlo)"


def fisher_exact_rxc(table: np.ndarray, seed: int = 0) -> tuple[float, bool]:
    """Two-sided Fisher exact p for an r x 2 or 2 x c table as R ``fisher.test``, and whether it is exact.

    Enumerates every table with the observed margins; p = total probability of the tables no more
    probable than the observed one (relative tolerance 1e-7, as R). Tables of other shapes or with
    more than 5 million arrangements get scipy's Monte Carlo p (100,000 tables, ``seed``).
    """
    t = np.asarray(table, dtype=int)
    if t.shape[1] != 2 and t.shape[0] == 2:
        t = t.T
    if t.shape[1] == 2:
        log_p = _column_log_probs(t[:, 0].sum(), t.sum(axis=1))
        if log_p is not None:
            relative = np.exp(log_p - _log_prob(t[:, 0], t.sum(axis=1)))  # P(table) / P(observed)
            return float(min(1.0, relative[relative <= 1 + 1e-7].sum() / relative.sum())), True
    method = stats.MonteCarloMethod(n_resamples=100_000, rng=np.random.default_rng(seed))
    return float(stats.fisher_exact(t, method=method).pvalue), False


def _log_prob(first_column: np.ndarray, row_sums: np.ndarray) -> float:
    """log of prod_i C(r_i, x_i) (the hypergeometric weight of one r x 2 table; the constant cancels)."""
    x, r = np.asarray(first_column, float), np.asarray(row_sums, float)
    return float(np.sum(gammaln(r + 1) - gammaln(x + 1) - gammaln(r - x + 1)))


def _column_log_probs(col_total: int, row_sums: np.ndarray) -> np.ndarray | None:
    """Weights log prod C(r_i, x_i) of every first column x with sum ``col_total``; None if too many."""
    partial_sum = np.zeros(1, dtype=np.int64)
    partial_log = np.zeros(1)
    remaining = int(np.sum(row_sums))
    for r in row_sums:
        r = int(r)
        remaining -= r
        x = np.arange(r + 1)
        sums = (partial_sum[:, None] + x[None, :]).ravel()
        logs = (partial_log[:, None] + (gammaln(r + 1) - gammaln(x + 1) - gammaln(r - x + 1))[None, :]).ravel()
        feasible = (sums <= col_total) & (sums + remaining >= col_total)  # prune what cannot reach the total
        partial_sum, partial_log = sums[feasible], logs[feasible]
        if len(partial_sum) > _MAX_TABLES:
            return None
    return partial_log
