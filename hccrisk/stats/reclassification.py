"""Reclassification of a new model against an old one: net reclassification and integrated discrimination.

References: Pencina, D'Agostino Sr, D'Agostino Jr & Vasan, Stat Med 2008;27:157-172 (NRI, IDI and
their tests); Pencina, D'Agostino Sr & Steyerberg, Stat Med 2011;30:11-21 (continuous NRI). Variances
as R ``Hmisc::improveProb`` (also used by ``PredictABEL::reclassification``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hccrisk.stats._binary_checks import StatsInputError, as_binary, as_probability, check_level, same_length
from hccrisk.stats._result import Result

__all__ = ["NriComponent", "NRI", "IDI", "nri", "idi"]


@dataclasses.dataclass(frozen=True)
class NriComponent(Result):
    """NRI among events (P(up) - P(down)) or non-events (P(down) - P(up)) with CI and p."""

    estimate: float
    low: float
    high: float
    p_value: float
    n_up: int
    n_down: int
    n: int


@dataclasses.dataclass(frozen=True)
class NRI(Result):
    """Net reclassification improvement: total with CI and p, its two components, the cut-offs used
    (``None``: continuous NRI) and, for categorical NRI, the reclassification table (counts)."""

    nri: float
    low: float
    high: float
    p_value: float
    events: NriComponent
    nonevents: NriComponent
    cutoffs: tuple[float, ...] | None
    table: pd.DataFrame | None


@dataclasses.dataclass(frozen=True)
class IDI(Result):
    """Integrated discrimination improvement with CI and p; ``events`` = mean rise of the predicted
    risk in events (integrated sensitivity gain), ``nonevents`` = mean fall in non-events."""

    idi: float
    low: float
    high: float
    z: float
    p_value: float
    events: float
    nonevents: float


def _checked(y: Any, p_old: Any, p_new: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = as_binary(y)
    old, new = as_probability(p_old, "p_old"), as_probability(p_new, "p_new")
    same_length(y=y, p_old=old, p_new=new)
    return y, old, new


def _var(up: int, down: int, n: int) -> float:
    """Variance of (up - down)/n, multinomial (Hmisc::improveProb)."""
    return (up + down) / n**2 - (up - down) ** 2 / n**3


def _var_null(up: int, down: int, n: int) -> float:
    """Variance of (up - down)/n when P(up) = P(down) (Pencina 2008's test, McNemar-like)."""
    return (up + down) / n**2


def _component(up: int, down: int, n: int, sign: int, z_crit: float) -> NriComponent:
    """``sign`` +1 for events (up is good), -1 for non-events. SE as Hmisc; p from Pencina's null z."""
    estimate = sign * (up - down) / n
    se, se0 = np.sqrt(_var(up, down, n)), np.sqrt(_var_null(up, down, n))
    p = float(2 * stats.norm.sf(abs(estimate / se0))) if se0 > 0 else float("nan")
    return NriComponent(estimate, estimate - z_crit * se, estimate + z_crit * se, p, up, down, n)


def nri(
    y: Any, p_old: Any, p_new: Any, cutoffs: Sequence[float] | None = None, level: float = 0.95
) -> NRI:
    """Net reclassification improvement of ``p_new`` over ``p_old`` (both (n,) probabilities).

    Categorical when ``cutoffs`` are given: risk categories [0, c1), [c1, c2), ..., [ck, 1] (a risk
    equal to a cut-off goes up, as PredictABEL); continuous (any rise or fall) when ``cutoffs`` is None.
    NRI = [P(up|event) - P(down|event)] + [P(down|non-event) - P(up|non-event)].
    CI: NRI +- z * SE with SE^2 = sum over events/non-events of (u + d)/n^2 - (u - d)^2/n^3
    (u, d counts moving up/down; Hmisc::improveProb). p-value: Pencina 2008's test,
    z = NRI / sqrt((u_e + d_e)/n_e^2 + (u_ne + d_ne)/n_ne^2) (variance under no improvement).
    """
    y, old, new = _checked(y, p_old, p_new)
    z_crit = float(stats.norm.ppf(1 - (1 - check_level(level)) / 2))
    table = None
    if cutoffs is None:
        up, down = new > old, new < old
    else:
        cuts = np.asarray(cutoffs, dtype=float)
        if cuts.ndim != 1 or cuts.size == 0 or np.any(np.diff(cuts) <= 0) or cuts[0] <= 0 or cuts[-1] >= 1:
            raise StatsInputError("cutoffs", f"must be increasing values inside (0, 1), got {cutoffs}")
        cat_old = np.searchsorted(cuts, old, side="right")
        cat_new = np.searchsorted(cuts, new, side="right")
        up, down = cat_new > cat_old, cat_new < cat_old
        edges = np.concatenate([[0.0], cuts, [1.0]])
        labels = [f"[{a:g}, {b:g}{']' if i == len(cuts) else ')'}" for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))]
        table = pd.crosstab(
            [np.where(y == 1, "event", "non-event"), pd.Categorical.from_codes(cat_old, labels)],
            pd.Categorical.from_codes(cat_new, labels),
            rownames=["outcome", "old"], colnames=["new"], dropna=False,
        )
        cutoffs = tuple(float(c) for c in cuts)
    ev, ne = y == 1, y == 0
    events = _component(int(up[ev].sum()), int(down[ev].sum()), int(ev.sum()), +1, z_crit)
    nonevents = _component(int(up[ne].sum()), int(down[ne].sum()), int(ne.sum()), -1, z_crit)
    total = events.estimate + nonevents.estimate
    counts = [(c.n_up, c.n_down, c.n) for c in (events, nonevents)]
    se = np.sqrt(sum(_var(*c) for c in counts))
    se0 = np.sqrt(sum(_var_null(*c) for c in counts))
    p = float(2 * stats.norm.sf(abs(total / se0))) if se0 > 0 else float("nan")
    return NRI(total, total - z_crit * se, total + z_crit * se, p, events, nonevents, cutoffs, table)


def idi(y: Any, p_old: Any, p_new: Any, level: float = 0.95) -> IDI:
    """Integrated discrimination improvement of ``p_new`` over ``p_old`` (Pencina 2008).

    IDI = mean(p_new - p_old | event) - mean(p_new - p_old | non-event);
    SE = sqrt(var_e/n_e + var_ne/n_ne), var = sample variance (n - 1) of p_new - p_old within events
    and within non-events; z = IDI / SE, two-sided normal p; CI = IDI +- z * SE.
    """
    y, old, new = _checked(y, p_old, p_new)
    z_crit = float(stats.norm.ppf(1 - (1 - check_level(level)) / 2))
    d_ev, d_ne = (new - old)[y == 1], (new - old)[y == 0]
    if min(len(d_ev), len(d_ne)) < 2:
        raise StatsInputError("y", "needs at least two events and two non-events for the IDI variance")
    value = d_ev.mean() - d_ne.mean()
    se = np.sqrt(d_ev.var(ddof=1) / len(d_ev) + d_ne.var(ddof=1) / len(d_ne))
    z = value / se if se > 0 else float("nan")
    p = float(2 * stats.norm.sf(abs(z))) if se > 0 else float("nan")
    return IDI(float(value), float(value - z_crit * se), float(value + z_crit * se), float(z), p,
               float(d_ev.mean()), float(-d_ne.mean()))
