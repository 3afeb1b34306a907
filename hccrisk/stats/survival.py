"""Survival statistics: Kaplan-Meier, log-rank, Harrell's C (R ``survival`` conventions), and the
prognostic-accuracy measures of a survival model at given times: time-dependent AUC, Brier score /
prediction-error curve, calibration at t, survival NRI.

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
    "TimeDependentAUC",
    "BrierScore",
    "SurvivalCalibration",
    "SurvivalNRI",
    "harrell_c",
    "compare_c",
    "logrank",
    "kaplan_meier",
    "time_dependent_auc",
    "brier_survival",
    "survival_calibration",
    "survival_nri",
]

Z95 = float(stats.norm.ppf(0.975))


class SurvivalInputError(InputError, ValueError):
    """Bad survival data (lengths, negative or missing times, event codes); also a ``ValueError``."""


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
    SE (sqrt of the sum of squared influences); the CI is C +- 1.96 SE.
    """
    t, e, r = check_survival(time, event, risk=risk)
    c, infl = _c_influence(t, e, r)
    se = float(np.sqrt(np.sum(infl**2)))
    return CIndex(float(c), float(c - Z95 * se), float(c + Z95 * se), se)


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


# ------------------------------------------------------------------------- accuracy at given times
def _structured(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    return np.array(list(zip(event.astype(bool), time)), dtype=[("event", bool), ("time", float)])


def _training(time: np.ndarray, event: np.ndarray, train_time: ArrayLike | None, train_event: ArrayLike | None):
    """The cohort whose censoring distribution gives the IPC weights (default: the evaluated cohort)."""
    if (train_time is None) != (train_event is None):
        raise SurvivalInputError("train_time/train_event", "give both or neither")
    if train_time is None:
        return _structured(time, event)
    tt, te = check_survival(train_time, train_event)
    return _structured(tt, te)


@dataclass(frozen=True)
class TimeDependentAUC(Result):
    """Cumulative/dynamic AUC(t) (cases: event by t; controls: event-free beyond t) at ``times``, and the
    survival-weighted mean AUC over them (scikit-survival's ``mean_auc``)."""

    times: np.ndarray
    auc: np.ndarray
    mean_auc: float


def time_dependent_auc(time: ArrayLike, event: ArrayLike, risk: ArrayLike, times: Sequence[float],
                       train_time: ArrayLike | None = None, train_event: ArrayLike | None = None) -> TimeDependentAUC:
    """Uno's IPCW estimator of the cumulative/dynamic AUC(t) of ``risk`` (n,) or (n, len(times)).

    AUC(t) = sum_ij 1(T_i <= t, d_i = 1) 1(T_j > t) [1(r_i > r_j) + 1(r_i = r_j)/2] / G(T_i)
             / (sum_i 1(T_i <= t, d_i = 1) / G(T_i) * sum_j 1(T_j > t)),
    G = Kaplan-Meier of the censoring times of the training cohort (``train_*``, default this cohort).
    Computed by scikit-survival ``cumulative_dynamic_auc``; ``times`` must lie inside the follow-up.
    """
    from sksurv.metrics import cumulative_dynamic_auc

    t, e, r = check_survival(time, event, risk=risk)
    ts = np.sort(np.asarray(times, dtype=float))
    if ts.size == 0 or ts[0] < t.min() or ts[-1] >= t.max():
        raise SurvivalInputError("times", f"must lie within the follow-up [{t.min()}, {t.max()}), got {ts}")
    try:
        auc, mean = cumulative_dynamic_auc(_training(t, e, train_time, train_event), _structured(t, e), r, ts)
    except ValueError as exc:
        raise SurvivalInputError("time_dependent_auc", str(exc)) from None
    return TimeDependentAUC(ts, np.asarray(auc, dtype=float), float(mean))


@dataclass(frozen=True)
class BrierScore(Result):
    """IPCW Brier score BS(t) at ``times`` (the prediction-error curve), its integral over the times
    divided by their range (``integrated``), and the same for the Kaplan-Meier null model (``reference``,
    ``reference_integrated``), the benchmark curve of pec plots."""

    times: np.ndarray
    brier: np.ndarray
    integrated: float
    reference: np.ndarray
    reference_integrated: float


def brier_survival(time: ArrayLike, event: ArrayLike, predicted_survival: ArrayLike, times: Sequence[float],
                   train_time: ArrayLike | None = None, train_event: ArrayLike | None = None) -> BrierScore:
    """Graf et al. (1999) IPCW Brier score of ``predicted_survival`` (n, len(times)): S_i(t) per subject.

    BS(t) = mean_i [ 1(T_i <= t, d_i = 1) S_i(t)^2 / G(T_i) + 1(T_i > t) (1 - S_i(t))^2 / G(t) ], with G the
    censoring KM of the training cohort; as scikit-survival ``brier_score`` / pec. The integrated score
    uses the trapezoid rule (``integrated_brier_score``; needs >= 2 times).
    """
    from sksurv.metrics import brier_score, integrated_brier_score

    t, e = check_survival(time, event)
    ts = np.asarray(times, dtype=float)
    pred = np.asarray(predicted_survival, dtype=float)
    if pred.ndim == 1 and ts.size == 1:
        pred = pred[:, None]
    if pred.shape != (t.size, ts.size):
        raise SurvivalInputError("predicted_survival", f"must have shape (n, len(times)) = {(t.size, ts.size)}, "
                                                       f"got {pred.shape}")
    if not np.all(np.isfinite(pred)) or pred.min() < 0 or pred.max() > 1:
        raise SurvivalInputError("predicted_survival", "must be probabilities in [0, 1] without NaN")
    if ts.size and (np.any(np.diff(ts) <= 0) or ts[0] < t.min() or ts[-1] >= t.max()):
        raise SurvivalInputError("times", f"must increase within the follow-up [{t.min()}, {t.max()}), got {ts}")
    train, test = _training(t, e, train_time, train_event), _structured(t, e)
    km = km_at(km_steps(t, e), ts)
    null = np.broadcast_to(km, pred.shape)
    try:
        _, bs = brier_score(train, test, pred, ts)
        _, ref = brier_score(train, test, null, ts)
        ibs = integrated_brier_score(train, test, pred, ts) if ts.size > 1 else float("nan")
        ref_ibs = integrated_brier_score(train, test, null, ts) if ts.size > 1 else float("nan")
    except ValueError as exc:
        raise SurvivalInputError("brier_survival", str(exc)) from None
    return BrierScore(ts, np.asarray(bs), float(ibs), np.asarray(ref), float(ref_ibs))


@dataclass(frozen=True)
class SurvivalCalibration(Result):
    """Calibration at time ``t``: ``table`` per risk group (group, n, events, predicted = mean predicted
    S(t), observed = KM S(t), lower, upper (log CI), and the greenwood variance) and the
    Greenwood-Nam-D'Agostino chi-square (Demler et al. 2015), df = groups - 1, p."""

    t: float
    table: pd.DataFrame
    chisq: float
    df: int
    p_value: float


def survival_calibration(time: ArrayLike, event: ArrayLike, predicted_survival: ArrayLike, t: float,
                         groups: int | ArrayLike = 10) -> SurvivalCalibration:
    """Predicted S(t) against Kaplan-Meier observed S(t) per group, with the GND test.

    ``groups``: a number of quantile groups of predicted risk (default deciles) or a label per subject.
    GND chi-square = sum_g (KM_g(t) - mean predicted_g)^2 / Var_Greenwood(KM_g(t)) (groups with zero
    variance add 0), df = groups - 1; follow-up is administratively censored at ``t``. As Demler's
    ``GND.calib``, a group with fewer than 2 events by ``t`` is an error (collapse groups); fewer than 5
    makes the test unstable.
    """
    tt, e, pred = check_survival(time, event, predicted_survival=predicted_survival)
    if pred.ndim != 1 or pred.min() < 0 or pred.max() > 1:
        raise SurvivalInputError("predicted_survival", "must be 1-D probabilities in [0, 1]")
    if isinstance(groups, (int, np.integer)):
        labels = pd.qcut(pd.Series(1 - pred).rank(method="first"), int(groups), labels=False).to_numpy()
    else:
        labels = check_survival(tt, e, groups=groups)[2]
    e_t = np.where(tt > t, 0, e)  # administrative censoring at the evaluation time
    rows = []
    for lev in group_levels(labels):
        mask = labels == lev
        steps = km_steps(np.minimum(tt[mask], t), e_t[mask])
        n_events = int(e_t[mask].sum())
        if n_events < 2:
            raise SurvivalInputError("groups", f"group {lev!r} has {n_events} event(s) by t={t}; use fewer groups")
        idx = np.searchsorted(steps["time"], t, side="right") - 1
        obs = float(steps["survival"][idx]) if idx >= 0 else 1.0
        var_log = float(steps["var_log"][idx]) if idx >= 0 else 0.0
        lo, hi = _log_ci(np.array([obs]), np.array([var_log]), Z95)
        rows.append({"group": lev, "n": int(mask.sum()), "events": n_events, "predicted": float(pred[mask].mean()),
                     "observed": obs, "lower": float(lo[0]), "upper": float(hi[0]), "variance": obs**2 * var_log})
    table = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = np.where(table.variance > 0, (table.observed - table.predicted) ** 2 / table.variance, 0.0)
    chisq, df = float(parts.sum()), len(table) - 1
    return SurvivalCalibration(float(t), table, chisq, df, float(stats.chi2.sf(chisq, df)))


@dataclass(frozen=True)
class SurvivalNRI(Result):
    """Survival NRI at ``t`` (Pencina, Steyerberg & D'Agostino 2011): total = events + nonevents parts,
    each with a percentile-bootstrap 95% CI (NaN when ``n_boot = 0``), and the up/down proportions."""

    nri: float
    low: float
    high: float
    nri_events: float
    nri_nonevents: float
    events_low: float
    events_high: float
    nonevents_low: float
    nonevents_high: float
    p_up: float
    p_down: float


def _nri_at(t_: np.ndarray, e_: np.ndarray, up: np.ndarray, down: np.ndarray, t: float) -> tuple[float, float]:
    n = t_.size
    s_all = float(km_at(km_steps(t_, e_), t))
    ev, nonev = 0.0, 0.0
    for moved, sign in ((up, 1.0), (down, -1.0)):
        if not moved.any():
            continue
        p_move = moved.sum() / n
        s_move = float(km_at(km_steps(t_[moved], e_[moved]), t))
        ev += sign * (1 - s_move) * p_move / (1 - s_all)  # P(move | event by t), Bayes with KM
        nonev -= sign * s_move * p_move / s_all  # P(move | event-free at t)
    return ev, nonev


def survival_nri(time: ArrayLike, event: ArrayLike, risk_old: ArrayLike, risk_new: ArrayLike, t: float,
                 cutoffs: Sequence[float] | None = None, n_boot: int = 1000, seed: int = 0) -> SurvivalNRI:
    """Net reclassification improvement of ``risk_new`` over ``risk_old`` (predicted risk of the event by
    ``t``) with censored data, Pencina et al. (2011) via Kaplan-Meier:

        NRI_events    = P(up | D) - P(down | D),   P(up | D)  = (1 - KM_up(t)) P(up) / (1 - KM(t))
        NRI_nonevents = P(down | ND) - P(up | ND), P(up | ND) = KM_up(t) P(up) / KM(t)

    "up" = a higher risk category (``cutoffs``, e.g. [0.1, 0.3]) or, without cutoffs, any increase
    (category-free NRI). CIs: percentile bootstrap over subjects (``n_boot`` resamples, ``seed``).
    """
    tt, e, old, new = check_survival(time, event, risk_old=risk_old, risk_new=risk_new)
    if not tt.min() <= t < tt.max():
        raise SurvivalInputError("t", f"must lie within the follow-up, got {t}")
    if cutoffs is not None:
        cuts = np.sort(np.asarray(cutoffs, dtype=float))
        old_c, new_c = np.searchsorted(cuts, old, side="right"), np.searchsorted(cuts, new, side="right")
    else:
        old_c, new_c = old, new
    up, down = new_c > old_c, new_c < old_c
    ev, nonev = _nri_at(tt, e, up, down, t)
    boots = np.full((max(n_boot, 0), 2), np.nan)
    rng = np.random.default_rng(seed)
    for b in range(max(n_boot, 0)):
        i = rng.integers(0, tt.size, tt.size)
        s = float(km_at(km_steps(tt[i], e[i]), t))
        if 0 < s < 1:
            boots[b] = _nri_at(tt[i], e[i], up[i], down[i], t)
    with np.errstate(invalid="ignore"):
        lo_hi = (np.nanpercentile(boots, [2.5, 97.5], axis=0) if n_boot > 0 and np.isfinite(boots).any()
                 else np.full((2, 2), np.nan))
        tot = np.nanpercentile(boots.sum(1), [2.5, 97.5]) if n_boot > 0 else np.full(2, np.nan)
    return SurvivalNRI(float(ev + nonev), float(tot[0]), float(tot[1]), float(ev), float(nonev),
                       float(lo_hi[0, 0]), float(lo_hi[1, 0]), float(lo_hi[0, 1]), float(lo_hi[1, 1]),
                       float(up.mean()), float(down.mean()))
