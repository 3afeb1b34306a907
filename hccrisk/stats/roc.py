"""ROC analysis for a binary outcome: AUC with CI, DeLong tests, Youden cut-off, diagnostic metrics.

Convention everywhere: a higher score means the event (``y == 1``) is more likely, as pROC with
``direction = "<"`` (controls < cases); a sample is called positive when ``score >= cutoff``.
AUC ties count one half (Mann-Whitney). References: DeLong, DeLong & Clarke-Pearson, Biometrics 1988;
the fast placement-value algorithm of Sun & Xu, IEEE SPL 2014; R ``pROC`` 1.18 (Robin et al. 2011).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from hccrisk.stats._binary_checks import StatsInputError, as_binary, as_vector, check_level, same_length
from hccrisk.stats._result import Result

__all__ = [
    "AucCI",
    "DelongTest",
    "DelongUnpairedTest",
    "YoudenCutoff",
    "Proportion",
    "DiagnosticMetrics",
    "auc_ci",
    "delong_test",
    "delong_unpaired",
    "youden_cutoff",
    "diagnostic_metrics",
    "clopper_pearson",
]


@dataclasses.dataclass(frozen=True)
class AucCI(Result):
    """Area under the ROC curve and its confidence interval."""

    auc: float
    low: float
    high: float


@dataclasses.dataclass(frozen=True)
class DelongTest(Result):
    """DeLong test of AUC_a == AUC_b: z statistic, two-sided p, and the two AUCs."""

    z: float
    p_value: float
    auc_a: float
    auc_b: float


@dataclasses.dataclass(frozen=True)
class DelongUnpairedTest(Result):
    """Unpaired DeLong test: statistic D, two-sided p from Student's t with Welch-Satterthwaite ``df``."""

    statistic: float
    p_value: float
    auc_a: float
    auc_b: float
    df: float


@dataclasses.dataclass(frozen=True)
class YoudenCutoff(Result):
    """The threshold maximising sensitivity + specificity - 1, with its operating point."""

    cutoff: float
    sensitivity: float
    specificity: float
    youden_j: float


@dataclasses.dataclass(frozen=True)
class Proportion(Result):
    """A proportion ``successes / total`` with its exact (Clopper-Pearson) CI; NaN when total is 0."""

    estimate: float
    low: float
    high: float
    successes: int
    total: int


@dataclasses.dataclass(frozen=True)
class DiagnosticMetrics(Result):
    """Sensitivity, specificity, accuracy, PPV, NPV (each a ``Proportion``) and the 2x2 counts."""

    cutoff: float
    sensitivity: Proportion
    specificity: Proportion
    accuracy: Proportion
    ppv: Proportion
    npv: Proportion
    tp: int
    fp: int
    tn: int
    fn: int

    def table(self) -> pd.DataFrame:
        """One row per metric: estimate, low, high, successes, total."""
        names = ["sensitivity", "specificity", "accuracy", "ppv", "npv"]
        return pd.DataFrame([getattr(self, n).as_dict() for n in names], index=pd.Index(names, name="metric"))


def _split(y: Any, score: Any, score_name: str = "score") -> tuple[np.ndarray, np.ndarray]:
    """(cases, controls) scores after validating ``y`` and ``score``."""
    y = as_binary(y)
    s = as_vector(score, score_name)
    same_length(y=y, **{score_name: s})
    return s[y == 1], s[y == 0]


def _placements(cases: np.ndarray, controls: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong placement values: V10 (m,) for cases and V01 (n,) for controls (Sun & Xu 2014)."""
    m, n = len(cases), len(controls)
    all_ranks = stats.rankdata(np.concatenate([cases, controls]))  # midranks handle ties as 1/2
    v10 = (all_ranks[:m] - stats.rankdata(cases)) / n
    v01 = 1.0 - (all_ranks[m:] - stats.rankdata(controls)) / m
    return float(v10.mean()), v10, v01


def _delong_var(v10: np.ndarray, v01: np.ndarray) -> float:
    """Variance of one AUC: var(V10)/m + var(V01)/n with n-1 denominators (pROC ``ci.auc``)."""
    return float(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))


def _normal_p(z: float) -> float:
    return float(2.0 * stats.norm.sf(abs(z))) if np.isfinite(z) else float("nan")


def auc_ci(
    y: Any,
    score: Any,
    level: float = 0.95,
    *,
    method: Literal["delong", "bootstrap"] = "delong",
    n_boot: int = 2000,
    seed: int | None = None,
) -> AucCI:
    """AUC of ``score`` (n,) for binary ``y`` (n,) with a ``level`` CI.

    ``method="delong"``: normal CI with the DeLong variance, clipped to [0, 1] (pROC
    ``ci.auc(method="delong")``). ``method="bootstrap"``: stratified bootstrap (cases and controls
    resampled separately, ``n_boot`` times, ``seed`` for numpy's generator), percentile CI with R's
    default (type 7) quantiles (pROC ``ci.auc(method="bootstrap", boot.stratified=TRUE)``).
    """
    level = check_level(level)
    cases, controls = _split(y, score)
    auc, v10, v01 = _placements(cases, controls)
    alpha = 1.0 - level
    if method == "delong":
        sd = np.sqrt(_delong_var(v10, v01))
        low, high = stats.norm.ppf([alpha / 2, 1 - alpha / 2], loc=auc, scale=sd) if sd > 0 else (auc, auc)
        return AucCI(auc, float(np.clip(low, 0, 1)), float(np.clip(high, 0, 1)))
    if method == "bootstrap":
        if int(n_boot) < 10:
            raise StatsInputError("n_boot", f"must be at least 10, got {n_boot}")
        boot = _bootstrap_aucs(cases, controls, int(n_boot), np.random.default_rng(seed))
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        return AucCI(auc, float(low), float(high))
    raise StatsInputError("method", f"must be 'delong' or 'bootstrap', got {method!r}")


def _bootstrap_aucs(cases: np.ndarray, controls: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot,) AUCs of stratified resamples, computed in chunks by rank sums."""
    m, n = len(cases), len(controls)
    chunk = max(1, 4_000_000 // (m + n))  # bounds memory at ~32 MB per chunk
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        sample = np.concatenate(
            [cases[rng.integers(0, m, (b, m))], controls[rng.integers(0, n, (b, n))]], axis=1
        )
        rank_sum = stats.rankdata(sample, axis=1)[:, :m].sum(axis=1)
        out[start : start + b] = (rank_sum - m * (m + 1) / 2) / (m * n)
    return out


def delong_test(y: Any, score_a: Any, score_b: Any) -> DelongTest:
    """Paired DeLong test of two scores on the same patients (pROC ``roc.test(paired=TRUE, method="delong")``).

    z = (AUC_a - AUC_b) / sqrt(L S L'), S the DeLong covariance of the two AUCs, two-sided normal p.
    z and p are NaN when the two scores rank everyone identically (zero variance of the difference).
    """
    y = as_binary(y)
    a = as_vector(score_a, "score_a")
    b = as_vector(score_b, "score_b")
    same_length(y=y, score_a=a, score_b=b)
    auc_a, v10a, v01a = _placements(a[y == 1], a[y == 0])
    auc_b, v10b, v01b = _placements(b[y == 1], b[y == 0])
    s10 = np.cov(np.vstack([v10a, v10b]), ddof=1)
    s01 = np.cov(np.vstack([v01a, v01b]), ddof=1)
    cov = s10 / len(v10a) + s01 / len(v01a)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    z = (auc_a - auc_b) / np.sqrt(var) if var > 0 else float("nan")
    return DelongTest(float(z), _normal_p(z), auc_a, auc_b)


def delong_unpaired(y1: Any, score1: Any, y2: Any, score2: Any) -> DelongUnpairedTest:
    """Unpaired DeLong test of AUCs in two independent cohorts, e.g. training vs validation (overfitting).

    D = (AUC_1 - AUC_2) / sqrt(V_1 + V_2) with the DeLong variances V; p from Student's t with
    df = (V_1 + V_2)^2 / (V_1^2 / (N_1 - 1) + V_2^2 / (N_2 - 1)), N = cohort size, exactly as pROC
    ``roc.test(paired=FALSE, method="delong")``.
    """
    cases1, controls1 = _split(y1, score1, "score1")
    cases2, controls2 = _split(y2, score2, "score2")
    auc1, v10, v01 = _placements(cases1, controls1)
    auc2, w10, w01 = _placements(cases2, controls2)
    var1, var2 = _delong_var(v10, v01), _delong_var(w10, w01)
    n1, n2 = len(cases1) + len(controls1), len(cases2) + len(controls2)
    if var1 + var2 <= 0:
        return DelongUnpairedTest(float("nan"), float("nan"), auc1, auc2, float("nan"))
    d = (auc1 - auc2) / np.sqrt(var1 + var2)
    df = (var1 + var2) ** 2 / (var1**2 / (n1 - 1) + var2**2 / (n2 - 1))
    return DelongUnpairedTest(float(d), float(2 * stats.t.sf(abs(d), df)), auc1, auc2, float(df))


def youden_cutoff(y: Any, score: Any) -> YoudenCutoff:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    Candidate thresholds follow pROC: -inf, the midpoints between consecutive distinct scores, +inf;
    positive means ``score >= threshold``. When several thresholds tie for the best J (pROC then returns
    them all) the lowest one is returned (the most sensitive).
    """
    cases, controls = _split(y, score)
    values = np.unique(np.concatenate([cases, controls]))
    thresholds = np.concatenate([[-np.inf], (values[:-1] + values[1:]) / 2, [np.inf]])
    cases_sorted, controls_sorted = np.sort(cases), np.sort(controls)
    sens = 1.0 - np.searchsorted(cases_sorted, thresholds, side="left") / len(cases)
    spec = np.searchsorted(controls_sorted, thresholds, side="left") / len(controls)
    j = sens + spec
    best = int(np.flatnonzero(j == j.max())[0])
    return YoudenCutoff(float(thresholds[best]), float(sens[best]), float(spec[best]), float(j[best] - 1.0))


def clopper_pearson(successes: int, total: int, level: float = 0.95) -> Proportion:
    """Exact binomial CI (Clopper & Pearson 1934; R ``binom.test``); NaN estimate when ``total`` is 0."""
    k, n = int(successes), int(total)
    if n == 0:
        return Proportion(float("nan"), float("nan"), float("nan"), k, n)
    alpha = 1.0 - check_level(level)
    low = stats.beta.ppf(alpha / 2, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
    return Proportion(k / n, float(low), float(high), k, n)


def diagnostic_metrics(y: Any, score: Any, cutoff: float, level: float = 0.95) -> DiagnosticMetrics:
    """Sensitivity, specificity, accuracy, PPV, NPV at ``score >= cutoff`` with exact Clopper-Pearson CIs."""
    y = as_binary(y)
    s = as_vector(score, "score")
    same_length(y=y, score=s)
    if np.isnan(float(cutoff)):
        raise StatsInputError("cutoff", f"must be a number, got {cutoff}")
    pos = s >= cutoff
    tp, fp = int(np.sum(pos & (y == 1))), int(np.sum(pos & (y == 0)))
    fn, tn = int(np.sum(~pos & (y == 1))), int(np.sum(~pos & (y == 0)))
    return DiagnosticMetrics(
        cutoff=float(cutoff),
        sensitivity=clopper_pearson(tp, tp + fn, level),
        specificity=clopper_pearson(tn, tn + fp, level),
        accuracy=clopper_pearson(tp + tn, len(y), level),
        ppv=clopper_pearson(tp, tp + fp, level),
        npv=clopper_pearson(tn, tn + fn, level),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
    )
