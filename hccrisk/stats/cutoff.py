"""X-tile style optimal cut-off of a continuous marker for survival, with a p value corrected for the
search over cut-points; the cut-off is found on the training cohort and applied unchanged elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from hccrisk.stats._result import Result
from hccrisk.stats.survival import SurvivalInputError, check_survival

__all__ = ["XTileCutoff", "xtile_cutoff", "apply_cutoff", "miller_siegmund_p"]


@dataclass(frozen=True)
class XTileCutoff(Result):
    """The log-rank-maximising cut-off: low group ``marker <= cutoff``, high group ``marker > cutoff``.

    ``p_value`` is the search-corrected p (``p_method``: "miller-siegmund" or "permutation");
    ``p_miller_siegmund`` and ``p_uncorrected`` (chi-square, 1 df, at the chosen cut) are always given.
    ``candidates``: every cut-point tried with its n_low and chi-square.
    """

    cutoff: float
    chisq: float
    p_value: float
    p_method: str
    p_miller_siegmund: float
    p_uncorrected: float
    n_low: int
    n_high: int
    candidates: pd.DataFrame


def miller_siegmund_p(chisq_max: float, min_group: float) -> float:
    """P(max standardised log-rank statistic >= sqrt(chisq_max)) over cut-points with group proportions in
    [min_group, 1 - min_group], by Miller & Siegmund (1982) / Lausen & Schumacher (1992):

        p = phi(b) (b - 1/b) log(e2 (1 - e1) / ((1 - e2) e1)) + 4 phi(b) / b,   b = sqrt(chisq_max),

    with e1 = min_group, e2 = 1 - min_group; an approximation for large b, so it is capped at 1.
    """
    if not 0 < min_group < 0.5:
        raise SurvivalInputError("min_group", f"must be in (0, 0.5), got {min_group}")
    b = float(np.sqrt(chisq_max))
    if b <= 0:
        return 1.0
    e1, e2 = min_group, 1 - min_group
    phi = stats.norm.pdf(b)
    p = phi * (b - 1 / b) * np.log(e2 * (1 - e1) / ((1 - e2) * e1)) + 4 * phi / b
    return float(min(1.0, max(0.0, p)))


def _prefix_chisq(time: np.ndarray, event: np.ndarray, order: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Two-group log-rank chi-square for every split "first ``size`` subjects of ``order``" vs the rest.

    One cumulative sum over subjects sorted by marker gives the low group's at-risk and event counts for
    all cut-points at once: (len(sizes),) chi-squares in O(n * event times).
    """
    death_times = np.unique(time[event == 1])
    at_risk = (time[order, None] >= death_times[None, :]).astype(float)
    deaths = ((time[order, None] == death_times[None, :]) & (event[order, None] == 1)).astype(float)
    n_k, d_k = at_risk.sum(0), deaths.sum(0)
    n_low = np.cumsum(at_risk, axis=0)[sizes - 1]
    observed = np.cumsum(deaths.sum(1))[sizes - 1]
    expected = (n_low * (d_k / n_k)).sum(1)
    factor = np.zeros_like(n_k)
    several = n_k > 1
    factor[several] = d_k[several] * (n_k[several] - d_k[several]) / (n_k[several] ** 2 * (n_k[several] - 1))
    variance = (n_low * (n_k - n_low) * factor).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(variance > 0, (observed - expected) ** 2 / variance, 0.0)


def xtile_cutoff(time: ArrayLike, event: ArrayLike, marker: ArrayLike, min_group: float = 0.1,
                 n_permutations: int = 0, seed: int = 0) -> XTileCutoff:
    """Cut-off of ``marker`` (n,) maximising the log-rank chi-square between ``marker <= c`` and ``> c``.

    Candidates are the distinct marker values c leaving at least ``min_group`` of the subjects in each
    group. The corrected p is Miller-Siegmund's; with ``n_permutations > 0`` it is instead the Monte-Carlo
    permutation p, (1 + #{max chi-square of permuted marker >= observed}) / (1 + n_permutations), seeded.
    """
    t, e, m = check_survival(time, event, marker=marker)
    if m.dtype.kind not in "biuf":
        raise SurvivalInputError("marker", "must be numeric")
    if not 0 < min_group < 0.5:
        raise SurvivalInputError("min_group", f"must be in (0, 0.5), got {min_group}")
    if e.sum() == 0:
        raise SurvivalInputError("event", "no events: no log-rank statistic")
    n = t.size
    order = np.argsort(m, kind="stable")
    values = np.unique(m)
    n_low = np.searchsorted(m[order], values, side="right")  # subjects with marker <= each value
    ok = (n_low >= min_group * n) & (n_low <= (1 - min_group) * n) & (n_low < n)
    if not ok.any():
        raise SurvivalInputError("marker", f"no cut-point leaves {min_group:.0%} of subjects in each group")
    cuts, sizes = values[ok], n_low[ok]
    chisq = _prefix_chisq(t, e, order, sizes)
    best = int(np.argmax(chisq))
    p_ms = miller_siegmund_p(chisq[best], min_group)
    p_value, method = p_ms, "miller-siegmund"
    if n_permutations > 0:
        rng = np.random.default_rng(seed)
        # permuting the marker = pairing the sorted markers with a random order of subjects
        exceed = sum(_prefix_chisq(t, e, rng.permutation(n), sizes).max() >= chisq[best] - 1e-12
                     for _ in range(n_permutations))
        p_value, method = (1 + exceed) / (1 + n_permutations), "permutation"
    table = pd.DataFrame({"cutoff": cuts, "n_low": sizes, "chisq": chisq})
    return XTileCutoff(float(cuts[best]), float(chisq[best]), float(p_value), method, p_ms,
                       float(stats.chi2.sf(chisq[best], 1)), int(sizes[best]), int(n - sizes[best]), table)


def apply_cutoff(marker: ArrayLike, cutoff: float) -> np.ndarray:
    """Group labels for ``marker`` (n,): 1 = high (``marker > cutoff``), 0 = low; the training cut unchanged."""
    m = np.asarray(marker, dtype=float)
    if m.ndim != 1 or not np.all(np.isfinite(m)):
        raise SurvivalInputError("marker", "must be a 1-D array of finite numbers")
    if not np.isfinite(cutoff):
        raise SurvivalInputError("cutoff", f"must be finite, got {cutoff}")
    return (m > cutoff).astype(int)
