"""Nomogram points arithmetic, as R ``rms::nomogram`` does it, for logistic and Cox models.

Each predictor's effect ``beta * x`` (continuous, over its range) or ``beta_level`` (categorical)
is shifted so its smallest value gets 0 points; the predictor whose effect spans the widest range
gets 0-100 points, the others proportionally (``scale`` = points per unit of linear predictor).
Total points map back to the linear predictor and from there to the probability:

- logistic: ``P(event) = expit(lp)``, ``lp = intercept + sum(beta * x)``;
- Cox: ``S(t | x) = S0(t) ** exp(lp)`` with ``lp = sum(beta * (x - mean))`` and ``S0(t)`` the
  baseline survival at time t for the mean covariates (rms's centred linear predictor).

Only main effects that are linear in the linear predictor (no splines or interactions); a model with
transformed inputs (log AFP) takes the transformed variable as the predictor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
from scipy.special import expit, logit

from hccrisk.errors import InputError

Coefs = Mapping[str, "float | Mapping[str, float]"]


@dataclasses.dataclass(frozen=True)
class Predictor:
    """One nomogram axis: continuous (``coef`` over ``low..high``) or categorical (``levels``)."""

    name: str
    coef: float = 0.0
    low: float = math.nan
    high: float = math.nan
    levels: tuple[str, ...] = ()
    level_coefs: tuple[float, ...] = ()

    @property
    def categorical(self) -> bool:
        return bool(self.levels)

    def effect(self, value: float | str) -> float:
        """Contribution of ``value`` to the linear predictor (extrapolates beyond the range)."""
        if self.categorical:
            key = str(value)
            if key not in self.levels:
                raise InputError(self.name, f"level {value!r} not in the model's levels {list(self.levels)}")
            return self.level_coefs[self.levels.index(key)]
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise InputError(self.name, f"value {value!r} is not a number") from None
        if not math.isfinite(x):
            raise InputError(self.name, f"value {value!r} is missing or not finite")
        return self.coef * x

    @property
    def effect_range(self) -> tuple[float, float]:
        """(smallest, largest) effect over the axis."""
        if self.categorical:
            return min(self.level_coefs), max(self.level_coefs)
        ends = (self.coef * self.low, self.coef * self.high)
        return min(ends), max(ends)


class Nomogram:
    """Points, total points and probability of a fitted logistic or Cox model.

    Build with :meth:`from_logistic` or :meth:`from_cox`; ``predictors`` keep the order given.
    """

    def __init__(
        self,
        predictors: list[Predictor],
        offset: float,
        kind: Literal["logistic", "cox"],
        baseline_survival: float | None = None,
        time: float | None = None,
    ):
        if not predictors:
            raise InputError("nomogram", "a nomogram needs at least one predictor")
        self.predictors = tuple(predictors)
        self.offset = float(offset)
        self.kind = kind
        self.baseline_survival = baseline_survival
        self.time = time
        spans = [hi - lo for lo, hi in (p.effect_range for p in self.predictors)]
        if max(spans) <= 0:
            raise InputError("nomogram", "every predictor has zero effect over its range; nothing to draw")
        self.scale = 100.0 / max(spans)
        """Points per unit of linear predictor (rms's ``sc``)."""
        self.max_total_points = float(sum(spans) * self.scale)
        self._lp_at_zero = self.offset + sum(p.effect_range[0] for p in self.predictors)

    # ----- construction -----------------------------------------------------------------------
    @classmethod
    def from_logistic(
        cls, coefs: Coefs, intercept: float, ranges: Mapping[str, tuple[float, float]]
    ) -> "Nomogram":
        """Logistic model ``logit P = intercept + sum(beta x)``.

        ``coefs``: predictor -> beta (continuous) or -> {level: beta} (categorical; include the
        reference level with 0.0). ``ranges``: continuous predictor -> (low, high) of its axis.
        """
        return cls(_predictors(coefs, ranges), float(intercept), "logistic")

    @classmethod
    def from_cox(
        cls,
        coefs: Coefs,
        baseline_survival_at_t: float,
        ranges: Mapping[str, tuple[float, float]],
        means: Mapping[str, "float | Mapping[str, float]"],
        time: float | None = None,
    ) -> "Nomogram":
        """Cox model: survival at time t is ``baseline_survival_at_t ** exp(sum beta (x - mean))``.

        ``baseline_survival_at_t``: S0(t) at the covariate means (R: ``Survival(cph_fit)(t, 0)``).
        ``means``: continuous predictor -> mean; categorical -> {level: proportion} (dummy means).
        ``time`` (months) only labels the axis.
        """
        s0 = float(baseline_survival_at_t)
        if not 0.0 < s0 < 1.0:
            raise InputError("nomogram", f"baseline survival at t must be in (0, 1), got {s0}")
        predictors = _predictors(coefs, ranges)
        centre = 0.0
        for p in predictors:
            if p.name not in means:
                raise InputError("nomogram", f"no mean given for predictor {p.name!r}")
            m = means[p.name]
            if p.categorical:
                if not isinstance(m, Mapping):
                    raise InputError(p.name, "categorical predictor needs {level: proportion} as its mean")
                centre += sum(c * float(m.get(level, 0.0)) for level, c in zip(p.levels, p.level_coefs))
            else:
                centre += p.coef * float(m)
        return cls(predictors, -centre, "cox", baseline_survival=s0, time=time)

    # ----- arithmetic -------------------------------------------------------------------------
    def points(self, patient: Mapping[str, float | str]) -> dict[str, float]:
        """Points of each predictor for one patient: {predictor: points}."""
        out = {}
        for p in self.predictors:
            if p.name not in patient or patient[p.name] is None:
                raise InputError(p.name, "value missing for this patient")
            out[p.name] = (p.effect(patient[p.name]) - p.effect_range[0]) * self.scale
        return out

    def total_points(self, patient: Mapping[str, float | str]) -> float:
        """Sum of the predictors' points for one patient."""
        return float(sum(self.points(patient).values()))

    def predictor_points(self, name: str, values: "np.ndarray | list") -> np.ndarray:
        """Points of predictor ``name`` at each of ``values`` (numbers or level names)."""
        p = self._predictor(name)
        return np.array([(p.effect(v) - p.effect_range[0]) * self.scale for v in values], dtype=float)

    def total_points_to_linear_predictor(self, points: "float | np.ndarray") -> np.ndarray:
        """Linear predictor (logit; centred log relative hazard for Cox) at total ``points``."""
        return self._lp_at_zero + np.asarray(points, dtype=float) / self.scale

    def linear_predictor_to_total_points(self, lp: "float | np.ndarray") -> np.ndarray:
        """Inverse of :meth:`total_points_to_linear_predictor`."""
        return (np.asarray(lp, dtype=float) - self._lp_at_zero) * self.scale

    def total_points_to_probability(self, points: "float | np.ndarray") -> np.ndarray:
        """P(event) for logistic models, S(t) for Cox models, at total ``points``."""
        lp = self.total_points_to_linear_predictor(points)
        if self.kind == "logistic":
            return expit(lp)
        return np.power(self.baseline_survival, np.exp(lp))

    def probability_to_total_points(self, probability: "float | np.ndarray") -> np.ndarray:
        """Total points at which the model predicts ``probability`` (each in (0, 1))."""
        p = np.asarray(probability, dtype=float)
        if np.any((p <= 0) | (p >= 1)):
            raise InputError("nomogram", "probabilities must lie strictly between 0 and 1")
        if self.kind == "logistic":
            lp = logit(p)
        else:
            lp = np.log(np.log(p) / math.log(self.baseline_survival))
        return self.linear_predictor_to_total_points(lp)

    def predict(self, patient: Mapping[str, float | str]) -> float:
        """The patient's probability (P(event) or S(t)) read through the points, as on paper."""
        return float(self.total_points_to_probability(self.total_points(patient)))

    @property
    def outcome_label(self) -> str:
        """Default label of the probability axis."""
        if self.kind == "logistic":
            return "Probability of event"
        return f"{self.time:g}-month survival probability" if self.time else "Survival probability"

    def _predictor(self, name: str) -> Predictor:
        for p in self.predictors:
            if p.name == name:
                return p
        raise InputError(name, f"not a predictor of this nomogram ({[p.name for p in self.predictors]})")


def _predictors(coefs: Coefs, ranges: Mapping[str, tuple[float, float]]) -> list[Predictor]:
    """Validate coefficients and ranges into Predictor records (order of ``coefs``)."""
    out = []
    for name, coef in coefs.items():
        if isinstance(coef, Mapping):
            if len(coef) < 2:
                raise InputError(name, "categorical predictor needs at least two levels (reference with 0.0)")
            levels = tuple(str(k) for k in coef)
            values = tuple(float(v) for v in coef.values())
            if not all(math.isfinite(v) for v in values):
                raise InputError(name, "coefficients must be finite")
            out.append(Predictor(name, levels=levels, level_coefs=values))
            continue
        if name not in ranges:
            raise InputError(name, "continuous predictor needs a (low, high) range")
        low, high = (float(v) for v in ranges[name])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise InputError(name, f"range must be finite with low < high, got ({low}, {high})")
        if not math.isfinite(float(coef)):
            raise InputError(name, "coefficient must be finite")
        out.append(Predictor(name, coef=float(coef), low=low, high=high))
    unknown = set(ranges) - set(coefs)
    if unknown:
        raise InputError("nomogram", f"ranges given for predictors without coefficients: {sorted(unknown)}")
    return out
