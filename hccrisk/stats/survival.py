"""Survival statistics: Kaplan-Meier, log-rank, Harrell's C (R ``survival`` conventions). The
prognostic-accuracy measures at given times are in ``hccrisk.stats.survival_accuracy``.

Times are any non-negative unit (months in this project); ``event`` is 1 for the event, 0 for censored.
Every function is checked against R ``survival`` 3.5 in tests/stats/test_survival.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from hccrisk.errors import InputError
from hccrisk.stats._result import Result

__all__ = [
    "SurvivalInputError",
    "CIndex",
    "CIndexComparison",
    "LogRank",
    "KaplanMeier",
    "harrell_c",
    "compare_c",
    "logrank",
    "kaplan_meier",
    "sksurv_outcome",
]

Z95 = float(stats.norm.ppf(0.975))


class SurvivalInputError(InputError, ValueError):
    """Bad survival data (lengths, negative or missing times, event codes); also a ``ValueError``."""


def sksurv_outcome(time: ArrayLike, event: ArrayLike) -> np.ndarray:
    """(time, event) as scikit-survival's outcome: a structured array with fields ``event`` (bool) and
    ``time`` (float), one record per patient."""
    return np.array(list(zip(np.asarray(event).astype(bool), np.asarray(time, dtype=float))),
                    dtype=[("event", bool), ("time", float)])


# ----------------------------------------------------------------------------------------- validation
def check_survival(time: ArrayLike, event: ArrayLike, **others: ArrayLike) -> tuple[np.ndarray, ...]:
    """Validate ``time`` (n,) >= 0, ``event`` (n,) in {0, 1} and any same-length ``others``.

    Returns float ``time``, int ``event`` and each other array (float when numeric), in order.
    Raises ``SurvivalInputError`` naming the argument and the problem.
    """
    t = _numeric("time", time)
    if np.any(t < 0):
        raise SurvivalInputError("time", f"{int(np.sum(t < 0))} negative time(s)")
    e = _numeric("event", event)
    if not np.all(np.isin(e, (0, 1))):
        raise SurvivalInputError("event", f"must be 0/1, got values {sorted(set(np.unique(e)) - {0, 1})[:5]}")
    out: list[np.ndarray] = [t, e.astype(int)]
    for name, values in others.items():
        arr = np.asarray(values)
        if arr.shape[:1] != t.shape:
            raise SurvivalInputError(name, f"has length {arr.shape[:1]}, time has {t.shape[0]}")
        if arr.dtype.kind in "iuf":
            arr = _numeric(name, arr, ndim=arr.ndim)
        elif pd.isna(arr).any():
            raise SurvivalInputError(name, f"{int(pd.isna(arr).sum())} missing value(s)")
        out.append(arr)
    return tuple(out)


def group_levels(group: np.ndarray) -> np.ndarray:
    """Distinct values of ``group`` in sorted order (as R factor levels); appearance order if unsortable."""
    levels = pd.unique(pd.Series(group))
    try:
        return np.array(sorted(levels), dtype=levels.dtype)
    except TypeError:
        return levels


def _numeric(name: str, values: ArrayLike, ndim: int = 1) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SurvivalInputError(name, f"not numeric ({exc})") from None
    if arr.ndim != ndim:
        raise SurvivalInputError(name, f"must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise SurvivalInputError(name, "is empty")
    if not np.all(np.isfinite(arr)):
        raise SurvivalInputError(name, f"{int(np.sum(~np.isfinite(arr)))} NaN/infinite value(s)")
    return arr


# ------------------------------------------------------------------------------------------ Harrell C
@dataclass(frozen=True)
class CIndex(Result):
    """Harrell's C (higher risk = shorter survival), normal 95% CI and infinitesimal-jackknife SE."""

    c: float
    low: float
    high: float
    se: float


@dataclass(frozen=True)
class CIndexComparison(Result):
    """Paired comparison of two C indices: ``difference`` = C(a) - C(b), its SE, z and two-sided p."""

    difference: float
    se: float
    z: float
    p_value: float


def _c_influence(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> tuple[float, np.ndarray]:
    """C and its per-subject influence dC/dw_k (weights at 1), as survival::concordance.

    Comparable pairs: i has the event and j is still at risk (T_j > T_i, or T_j == T_i and j censored);
    ties in risk count 1/2; pairs of events at the same time are not comparable (R's ``tied.y``).
    Memory is O(block * n); time O(n^2).
    """
    n = time.size
    conc_row = np.zeros(n)  # pairs where k is the earlier event, split by outcome
    disc_row = np.zeros(n)
    tie_row = np.zeros(n)
    conc_col = np.zeros(n)  # pairs where k is the later (at-risk) member
    disc_col = np.zeros(n)
    tie_col = np.zeros(n)
    for start in range(0, n, 1024):
        rows = slice(start, min(n, start + 1024))
        ti, ei, ri = time[rows, None], event[rows, None], risk[rows, None]
        comparable = (ei == 1) & ((time[None, :] > ti) | ((time[None, :] == ti) & (event[None, :] == 0)))
        conc = comparable & (ri > risk[None, :])
        disc = comparable & (ri < risk[None, :])
        tie = comparable & (ri == risk[None, :])
        conc_row[rows], disc_row[rows], tie_row[rows] = conc.sum(1), disc.sum(1), tie.sum(1)
        conc_col += conc.sum(0)
        disc_col += disc.sum(0)
        tie_col += tie.sum(0)
    n_conc, n_disc, n_tie = conc_row.sum(), disc_row.sum(), tie_row.sum()
    denom = n_conc + n_disc + n_tie
    if denom == 0:
        raise SurvivalInputError("time/event", "no comparable pairs (no events before other follow-up)")
    num = n_conc + n_tie / 2
    d_num = conc_row + conc_col + (tie_row + tie_col) / 2
    d_den = conc_row + conc_col + disc_row + disc_col + tie_row + tie_col
    return num / denom, (d_num * denom - num * d_den) / denom**2


def harrell_c(time: ArrayLike, event: ArrayLike, risk: ArrayLike) -> CIndex:
    """Harrell's C of ``risk`` (n,) for (``time``, ``event``); higher risk means shorter survival.

    Equals R ``concordance(Surv(time, event) ~ risk, reverse = TRUE)``; SE is its infinitesimal-jackknife
    SE (sqrt of the sum of squared influences); the CI is C +- 1.96 SE, clipped to [0, 1] (a Wald interval
    can overshoot near 1 on small samples; R prints the unclipped C and SE only).
    """
    t, e, r = check_survival(time, event, risk=risk)
    c, infl = _c_influence(t, e, r)
    se = float(np.sqrt(np.sum(infl**2)))
    return CIndex(float(c), max(0.0, float(c - Z95 * se)), min(1.0, float(c + Z95 * se)), se)


def compare_c(time: ArrayLike, event: ArrayLike, risk_a: ArrayLike, risk_b: ArrayLike) -> CIndexComparison:
    """Paired z test of C(risk_a) - C(risk_b) on the same subjects.

    The covariance of the two C's is the sum of products of their infinitesimal-jackknife influences, as
    R ``concordance(fit_a, fit_b)`` (``$var``); the test is two-sided normal.
    """
    t, e, a, b = check_survival(time, event, risk_a=risk_a, risk_b=risk_b)
    ca, ia = _c_influence(t, e, a)
    cb, ib = _c_influence(t, e, b)
    se = float(np.sqrt(np.sum((ia - ib) ** 2)))
    diff = float(ca - cb)
    z = diff / se if se > 0 else float("nan")
    p = float(2 * stats.norm.sf(abs(z))) if se > 0 else float("nan")
    return CIndexComparison(diff, se, z, p)


# ------------------------------------------------------------------------------------------- log-rank
@dataclass(frozen=True)
class LogRank(Result):
    """Log-rank test: chi-square, degrees of freedom, p (as ``survdiff``)."""

    chisq: float
    df: int
    p_value: float


def logrank(time: ArrayLike, event: ArrayLike, group: ArrayLike) -> LogRank:
    """Log-rank test across the levels of ``group`` (n,), as R ``survdiff(Surv(time, event) ~ group)``.

    chisq = (O - E)' V^- (O - E) with the hypergeometric variance matrix V; df = levels - 1.
    """
    t, e, g = check_survival(time, event, group=group)
    levels = group_levels(g)
    if len(levels) < 2:
        raise SurvivalInputError("group", "needs at least two groups")
    onehot = np.stack([(g == lev) for lev in levels]).astype(float)  # (G, n)
    death_times = np.unique(t[e == 1])
    at_risk = (t[:, None] >= death_times[None, :]).astype(float)
    deaths = ((t[:, None] == death_times[None, :]) & (e[:, None] == 1)).astype(float)
    n_k, d_k = at_risk.sum(0), deaths.sum(0)
    n_gk, d_gk = onehot @ at_risk, onehot @ deaths
    observed, expected = d_gk.sum(1), (n_gk * d_k / n_k).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_k > 1, d_k * (n_k - d_k) / (n_k**2 * (n_k - 1)), 0.0)
    cov = -(n_gk * factor) @ n_gk.T
    cov[np.diag_indices_from(cov)] += (n_gk * n_k * factor).sum(1)
    diff = (observed - expected)[1:]
    chisq = float(diff @ np.linalg.solve(cov[1:, 1:], diff))
    df = len(levels) - 1
    return LogRank(chisq, df, float(stats.chi2.sf(chisq, df)))


# -------------------------------------------------------------------------------------- Kaplan-Meier
@dataclass(frozen=True)
class KaplanMeier(Result):
    """Kaplan-Meier estimate per group.

    ``table``: group, time, n_risk, n_event, n_censor, survival, std_err (of survival), lower, upper
    (one row per distinct time, as ``survfit``). ``median``: group, n, events, median, lower, upper.
    ``at_times``: group, time, n_risk, n_event (events up to and including ``time`` since the previous
    requested time), survival, lower, upper at the requested ``times`` (empty when none requested).
    """

    table: pd.DataFrame
    median: pd.DataFrame
    at_times: pd.DataFrame


def km_steps(time: np.ndarray, event: np.ndarray) -> dict[str, np.ndarray]:
    """KM step table at each distinct time: time, n_risk, n_event, n_censor, survival, and the Greenwood
    variance of the cumulative hazard ``var_log`` (survfit's ``std.err`` squared)."""
    times, inverse = np.unique(time, return_inverse=True)
    n_event = np.bincount(inverse, weights=event, minlength=times.size)
    n_total = np.bincount(inverse, minlength=times.size).astype(float)
    n_risk = n_total[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - n_event / n_risk)
        var_log = np.cumsum(np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0))
    return {"time": times, "n_risk": n_risk, "n_event": n_event, "n_censor": n_total - n_event,
            "survival": survival, "var_log": var_log}


def km_at(steps: dict[str, np.ndarray], t: ArrayLike) -> np.ndarray:
    """KM survival at times ``t`` (right-continuous; 1 before the first time, last value after)."""
    idx = np.searchsorted(steps["time"], np.asarray(t, dtype=float), side="right") - 1
    return np.where(idx >= 0, steps["survival"][np.maximum(idx, 0)], 1.0)


def _log_ci(survival: np.ndarray, var_log: np.ndarray, z: float,
            conf_type: str = "log") -> tuple[np.ndarray, np.ndarray]:
    """survfit's pointwise CI of S(t) from the Greenwood variance of the cumulative hazard ``var_log``.

    "log" (R's default): S exp(+-z se), upper capped at 1, NaN where S = 0; "log-log":
    exp(-exp(log(-log S) +- z se / log S)), NaN where S is 0 or 1; "plain": S +- z S se clipped to [0, 1].
    """
    se = np.sqrt(var_log)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            lower = np.where(survival > 0, survival * np.exp(-z * se), np.nan)
            upper = np.where(survival > 0, np.minimum(1.0, survival * np.exp(z * se)), np.nan)
        elif conf_type == "log-log":
            ok = (survival > 0) & (survival < 1)
            loglog, width = np.log(-np.log(survival)), z * se / np.log(survival)
            lower = np.where(ok, np.exp(-np.exp(loglog - width)), np.nan)  # width < 0 as log S < 0
            upper = np.where(ok, np.exp(-np.exp(loglog + width)), np.nan)
        elif conf_type == "plain":
            lower = np.clip(survival - z * se * survival, 0, 1)
            upper = np.clip(survival + z * se * survival, 0, 1)
        else:
            raise SurvivalInputError("conf_type", f"must be 'log', 'log-log' or 'plain', got {conf_type!r}")
    return lower, upper


def _survival_se(steps: dict[str, np.ndarray]) -> np.ndarray:
    """Greenwood SE of S(t); NaN once S reaches 0 (as survfit)."""
    with np.errstate(invalid="ignore"):
        return np.where(steps["survival"] > 0, steps["survival"] * np.sqrt(steps["var_log"]), np.nan)


def _first_below_half(curve: np.ndarray, times: np.ndarray) -> float:
    """survival's median rule (``minmin``): first time the curve is <= 0.5, or the midpoint of a flat 0.5."""
    tol = np.sqrt(np.finfo(float).eps)
    keep = ~np.isnan(curve) & (curve < 0.5 + tol)
    if not keep.any():
        return float("nan")
    x, y = times[keep], curve[keep]
    if abs(y[0] - 0.5) < tol and np.any(y < y[0]):
        return float((x[0] + x[np.argmax(y < y[0])]) / 2)
    return float(x[0])


def kaplan_meier(time: ArrayLike, event: ArrayLike, group: ArrayLike | None = None,
                 times: Sequence[float] | None = None, conf_level: float = 0.95,
                 conf_type: str = "log") -> KaplanMeier:
    """Kaplan-Meier curves with pointwise CIs and medians, as R ``survfit(Surv(time, event) ~ group,
    conf.type = conf_type)`` ("log" by default, "log-log" or "plain").

    ``times`` asks for survival and numbers at risk at those times (``summary(fit, times, extend=TRUE)``),
    the figures printed under KM plots.
    """
    t, e = check_survival(time, event)
    g = np.zeros(t.size, dtype=int) if group is None else check_survival(t, e, group=group)[2]
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    levels = group_levels(g)
    request = np.sort(_numeric("times", times)) if times is not None else np.array([])
    tables, medians, at_rows = [], [], []
    for lev in levels:
        mask = g == lev
        s = km_steps(t[mask], e[mask])
        lower, upper = _log_ci(s["survival"], s["var_log"], z, conf_type)
        label = None if group is None else lev
        tables.append(pd.DataFrame({"group": label, "time": s["time"], "n_risk": s["n_risk"].astype(int),
                                    "n_event": s["n_event"].astype(int), "n_censor": s["n_censor"].astype(int),
                                    "survival": s["survival"], "std_err": _survival_se(s),
                                    "lower": lower, "upper": upper}))
        medians.append({"group": label, "n": int(mask.sum()), "events": int(e[mask].sum()),
                        "median": _first_below_half(s["survival"], s["time"]),
                        # the lower band crosses 0.5 first, giving the lower limit of the median
                        "lower": _first_below_half(lower, s["time"]),
                        "upper": _first_below_half(upper, s["time"])})
        if request.size:
            idx = np.searchsorted(s["time"], request, side="right") - 1
            surv = np.where(idx >= 0, s["survival"][np.maximum(idx, 0)], 1.0)
            var = np.where(idx >= 0, s["var_log"][np.maximum(idx, 0)], 0.0)
            lo, hi = _log_ci(surv, var, z, conf_type)
            cum_events = np.concatenate([[0.0], np.cumsum(s["n_event"])])[idx + 1]
            at_rows.append(pd.DataFrame({"group": label, "time": request,
                                         "n_risk": (t[mask][None, :] >= request[:, None]).sum(1),
                                         "n_event": np.diff(np.concatenate([[0.0], cum_events])).astype(int),
                                         "survival": surv, "lower": lo, "upper": hi}))
    at_times = pd.concat(at_rows, ignore_index=True) if at_rows else pd.DataFrame(
        columns=["group", "time", "n_risk", "n_event", "survival", "lower", "upper"])
    return KaplanMeier(pd.concat(tables, ignore_index=True), pd.DataFrame(medians), at_times)
