"""Prognostic accuracy of a survival model at given times: time-dependent AUC, Brier score /
prediction-error curve, calibration at t, survival NRI.

Times are any non-negative unit (months in this project); ``event`` is 1 for the event, 0 for censored.
Checked in tests/stats/test_survival.py (R / hand computations; see docs/statistics.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from hccrisk.stats._result import Result
from hccrisk.stats.survival import (Z95, SurvivalInputError, _log_ci, check_survival, group_levels, km_at,
                                    km_steps, sksurv_outcome)

__all__ = [
    "TimeDependentAUC",
    "BrierScore",
    "SurvivalCalibration",
    "SurvivalNRI",
    "time_dependent_auc",
    "brier_survival",
    "survival_calibration",
    "survival_nri",
]

# ------------------------------------------------------------------------- accuracy at given times
def _training(time: np.ndarray, event: np.ndarray, train_time: ArrayLike | None, train_event: ArrayLike | None):
    """The cohort whose censoring distribution gives the IPC weights (default: the evaluated cohort)."""
    if (train_time is None) != (train_event is None):
        raise SurvivalInputError("train_time/train_event", "give both or neither")
    if train_time is None:
        return sksurv_outcome(time, event)
    tt, te = check_survival(train_time, train_event)
    return sksurv_outcome(tt, te)


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
        auc, mean = cumulative_dynamic_auc(_training(t, e, train_time, train_event), sksurv_outcome(t, e), r, ts)
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
    train, test = _training(t, e, train_time, train_event), sksurv_outcome(t, e)
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
