"""Calibration of predicted probabilities for a binary outcome.

Hosmer-Lemeshow test (Hosmer & Lemeshow 1980; as R ``ResourceSelection::hoslem.test``), binned and
lowess-smoothed calibration curves, Brier score, and the validation indices of R ``rms::val.prob``
(Harrell, Regression Modeling Strategies, 2nd ed., ch. 10; Spiegelhalter 1986 for the z test).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.nonparametric.smoothers_lowess import lowess

from hccrisk.stats._binary_checks import StatsInputError, as_binary, as_probability, check_level, same_length
from hccrisk.stats._result import Result
from hccrisk.stats.roc import auc_ci, clopper_pearson

__all__ = [
    "HosmerLemeshow",
    "CalibrationCurve",
    "ValProb",
    "hosmer_lemeshow",
    "calibration_curve",
    "brier",
    "val_prob",
    "lowess_calibration",
]


@dataclasses.dataclass(frozen=True)
class HosmerLemeshow(Result):
    """Hosmer-Lemeshow chi-square statistic, its degrees of freedom (groups - 2) and p-value."""

    statistic: float
    df: int
    p_value: float


@dataclasses.dataclass(frozen=True)
class CalibrationCurve(Result):
    """``bins``: one row per bin (n, events, mean_predicted, observed, low, high: exact CI of observed).
    ``smooth``: lowess curve, columns ``predicted`` (sorted) and ``observed``."""

    bins: pd.DataFrame
    smooth: pd.DataFrame


@dataclasses.dataclass(frozen=True)
class ValProb(Result):
    """The indices of ``rms::val.prob`` (same order and meaning; see ``val_prob``)."""

    dxy: float
    c: float
    r2: float
    d: float
    d_chisq: float
    d_p: float
    u: float
    u_chisq: float
    u_p: float
    q: float
    brier: float
    intercept: float
    slope: float
    emax: float
    e90: float
    eavg: float
    s_z: float
    s_p: float


def _checked(y: Any, prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary(y)
    p = as_probability(prob)
    same_length(y=y, prob=p)
    return y, p


def _quantile_groups(p: np.ndarray, groups: int) -> np.ndarray:
    """Group index (0-based) per sample: R ``cut(p, unique(quantile(p, 0:g/g)), include.lowest=TRUE)``.

    Intervals are right-closed (a, b], the first one also holds its lower edge.
    """
    if int(groups) < 3:
        raise StatsInputError("groups", f"must be at least 3, got {groups}")
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, int(groups) + 1)))  # R type 7 quantiles
    return np.clip(np.searchsorted(breaks, p, side="left") - 1, 0, max(len(breaks) - 2, 0))


def hosmer_lemeshow(y: Any, prob: Any, groups: int = 10) -> HosmerLemeshow:
    """Hosmer-Lemeshow goodness-of-fit test of probabilities ``prob`` (n,) for outcomes ``y`` (n,).

    Groups by quantiles of ``prob`` as ``hoslem.test``; statistic = sum over groups and both outcome
    classes of (observed - expected)^2 / expected; df = ``groups`` - 2 even when tied quantiles merge
    groups (as ``hoslem.test``). Empty groups (possible only with heavy ties) are skipped instead of
    giving NaN.
    """
    y, p = _checked(y, prob)
    g = _quantile_groups(p, groups)
    n_groups = g.max() + 1
    obs1 = np.bincount(g, weights=y, minlength=n_groups)
    exp1 = np.bincount(g, weights=p, minlength=n_groups)
    size = np.bincount(g, minlength=n_groups).astype(float)
    keep = size > 0
    obs1, exp1, size = obs1[keep], exp1[keep], size[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        chisq = np.sum((obs1 - exp1) ** 2 / exp1 + ((size - obs1) - (size - exp1)) ** 2 / (size - exp1))
    df = int(groups) - 2
    return HosmerLemeshow(float(chisq), df, float(stats.chi2.sf(chisq, df)))


def lowess_calibration(y: np.ndarray, prob: np.ndarray) -> pd.DataFrame:
    """Lowess of ``y`` on ``prob`` as R ``lowess(prob, y, iter=0)`` (span 2/3, delta 1 % of the range).

    Returns columns ``predicted`` (sorted probs) and ``observed`` (smoothed event rate).
    """
    fit = lowess(y, prob, frac=2 / 3, it=0, delta=0.01 * float(np.ptp(prob)), return_sorted=True)
    return pd.DataFrame({"predicted": fit[:, 0], "observed": fit[:, 1]})


def calibration_curve(
    y: Any,
    prob: Any,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
    level: float = 0.95,
) -> CalibrationCurve:
    """Observed vs predicted event rate, binned and smoothed.

    ``strategy="quantile"``: the Hosmer-Lemeshow groups (``n_bins`` quantile groups); ``"uniform"``:
    ``n_bins`` equal-width bins on [0, 1] (empty bins dropped). Each bin's observed proportion has an
    exact Clopper-Pearson ``level`` CI. The smooth curve is ``lowess_calibration`` (as rms::val.prob).
    """
    y, p = _checked(y, prob)
    level = check_level(level)
    if strategy == "quantile":
        g = _quantile_groups(p, n_bins)
    elif strategy == "uniform":
        if int(n_bins) < 1:
            raise StatsInputError("n_bins", f"must be positive, got {n_bins}")
        g = np.clip(np.floor(p * int(n_bins)).astype(int), 0, int(n_bins) - 1)
    else:
        raise StatsInputError("strategy", f"must be 'quantile' or 'uniform', got {strategy!r}")
    rows = []
    for b in np.unique(g):
        in_bin = g == b
        ci = clopper_pearson(int(y[in_bin].sum()), int(in_bin.sum()), level)
        rows.append(
            {"bin": int(b), "n": ci.total, "events": ci.successes, "mean_predicted": float(p[in_bin].mean()),
             "observed": ci.estimate, "low": ci.low, "high": ci.high}
        )
    return CalibrationCurve(pd.DataFrame(rows), lowess_calibration(y.astype(float), p))


def brier(y: Any, prob: Any) -> float:
    """Brier score: mean squared difference between ``prob`` and the 0/1 outcome ``y``."""
    y, p = _checked(y, prob)
    return float(np.mean((p - y) ** 2))


def val_prob(y: Any, prob: Any) -> ValProb:
    """Validation indices of external probabilities, as R ``rms::val.prob(prob, y, pl=FALSE)``.

    Dxy = 2 (C - 1/2), C = AUC; R2 = Nagelkerke's R2 of the logit taken as is (intercept 0, slope 1);
    D = (LR - 1)/n discrimination index with LR = chi-square of that fixed model against the null
    (``d_p`` its p on 1 df; rms 6.5 prints NA there); U = (U_chisq - 2)/n unreliability, U_chisq =
    deviance of the fixed model minus that of the logistic recalibration ``logit(P) = a + b logit(prob)``
    (intercept a, slope b), p on 2 df; Q = D - U; Brier score; Emax, E90, Eavg = max, 90th percentile
    and mean of |prob - lowess-smoothed observed|; Spiegelhalter z and p. Probabilities of exactly 0 or
    1 are left out of the logistic fits (with a warning), as rms does.
    """
    y, p = _checked(y, prob)
    n = len(y)
    if np.unique(p).size == 1:
        raise StatsInputError("prob", "is constant; calibration indices need varying probabilities")
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-p)
    finite = np.isfinite(logit)
    if not finite.all():
        warnings.warn(f"{int((~finite).sum())} probabilities of 0 or 1 left out of the logistic calibration")
    lg, yf = logit[finite], y[finite]
    n_fit = len(yf)
    ybar = yf.mean()
    dev_null = -2 * np.sum(yf * np.log(ybar) + (1 - yf) * np.log(1 - ybar))
    dev_fixed = -2 * np.sum(yf * lg - np.logaddexp(0, lg))
    lr = dev_null - dev_fixed
    r2 = (1 - np.exp(-lr / n_fit)) / (1 - np.exp(-dev_null / n_fit))
    recal = sm.Logit(yf, sm.add_constant(lg)).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    u_chisq = dev_fixed - (-2 * recal.llf)
    d, u = (lr - 1) / n_fit, (u_chisq - 2) / n_fit
    c = auc_ci(yf, lg).auc
    er = np.abs(p - _smoothed_at(y.astype(float), p))
    spread = (1 - 2 * p) ** 2 * p * (1 - p)
    s_z = np.sum((y - p) * (1 - 2 * p)) / np.sqrt(np.sum(spread))
    return ValProb(
        dxy=2 * (c - 0.5), c=c, r2=float(r2), d=float(d), d_chisq=float(lr), d_p=float(stats.chi2.sf(lr, 1)),
        u=float(u), u_chisq=float(u_chisq), u_p=float(stats.chi2.sf(u_chisq, 2)), q=float(d - u),
        brier=float(np.mean((p - y) ** 2)), intercept=float(recal.params[0]), slope=float(recal.params[1]),
        emax=float(er.max()), e90=float(np.quantile(er, 0.9)), eavg=float(er.mean()),
        s_z=float(s_z), s_p=float(2 * stats.norm.sf(abs(s_z))),
    )


def _smoothed_at(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The lowess curve evaluated at each ``p``: R ``approx(lowess(p, y, iter=0), xout=p, ties=mean)``."""
    curve = lowess_calibration(y, p)
    x, idx = np.unique(curve.predicted.to_numpy(), return_inverse=True)
    fitted = np.bincount(idx, weights=curve.observed.to_numpy()) / np.bincount(idx)
    return np.interp(p, x, fitted)
