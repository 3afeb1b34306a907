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
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy.special import expit, logit

from hccrisk.errors import InputError
from hccrisk.report.figures import _style

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


# ----- drawing ------------------------------------------------------------------------------------
_PROBABILITY_CANDIDATES = np.array(
    [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
)


@_style.publication_style
def nomogram_figure(
    nomogram: Nomogram,
    labels: Mapping[str, str] | None = None,
    patient: Mapping[str, float | str] | None = None,
    probability_label: str | None = None,
    width_in: float = _style.DOUBLE_COLUMN_IN,
) -> tuple[Figure, dict]:
    """Draw ``nomogram`` like ``rms::nomogram``: Points 0-100, one axis per predictor, Total points,
    Linear predictor and the probability axis (P(event), or S(t) for Cox models).

    ``labels``: predictor -> axis title (default the name). ``patient``: optional values to mark on
    every axis, with their total points and probability.
    Returns (figure, numbers): scale, each axis' tick values and their positions in points.
    """
    labels = dict(labels or {})
    rows = ["Points", *[labels.get(p.name, p.name) for p in nomogram.predictors], "Total points",
            "Linear predictor", probability_label or nomogram.outcome_label]
    height = 0.42 * len(rows) + 0.5 + (0.3 if patient is not None else 0.0)
    fig = _style.new_figure(width_in, height)
    ax = fig.add_subplot()
    ax.set_axis_off()
    label_room = 0.26 * width_in  # inches at the left for the row titles
    units_per_in = 100.0 / (width_in - label_room - 0.3)
    char_units = 7.5 * 0.62 / 72 * units_per_in  # width of one tick-label character in axis units
    ax.set_xlim(-label_room * units_per_in, 102)
    ax.set_ylim(-(len(rows) - 0.35 + (0.45 if patient is not None else 0.0)), 0.75)
    numbers: dict = {"kind": nomogram.kind, "scale": nomogram.scale,
                     "max_total_points": nomogram.max_total_points, "predictors": {}}

    def axis_row(row: int, positions, texts, title: str, above: bool = False, stagger: bool = False):
        y = -row
        ax.text(-label_room * units_per_in + 1, y, title, ha="left", va="center", fontsize=9)
        if len(positions) == 0:
            return
        ax.plot([min(positions), max(positions)], [y, y], color="black", lw=0.8, solid_capstyle="butt")
        order = np.argsort(positions)
        last_right = {True: -np.inf, False: -np.inf}
        for k in order:
            pos, text = positions[k], texts[k]
            half = (len(text) + 1) * char_units / 2
            up = above
            if stagger and pos - half < last_right[up]:
                up = not up  # crowded labels alternate above and below the line
            last_right[up] = pos + half
            sign = 1 if up else -1
            ax.plot([pos, pos], [y, y + sign * 0.09], color="black", lw=0.8)
            ax.text(pos, y + sign * 0.13, text, ha="center", va="bottom" if up else "top", fontsize=7.5)

    # Points scale
    pts = np.arange(0, 101, 10.0)
    axis_row(0, pts, [f"{v:g}" for v in pts], rows[0], above=True)
    for i in range(0, 101, 5):  # unlabelled minor ticks every 5 points
        ax.plot([i, i], [0, 0.05], color="black", lw=0.6)
    # Predictors
    for row, p in enumerate(nomogram.predictors, start=1):
        if p.categorical:
            values = list(p.levels)
            texts = values
        else:
            values = [float(v) for v in _continuous_ticks(p.low, p.high, char_units)]
            texts = [_fmt_tick(v) for v in values]
        positions = nomogram.predictor_points(p.name, values)
        axis_row(row, positions, texts, rows[row], stagger=p.categorical)
        numbers["predictors"][p.name] = {"values": values, "points": positions}
    # Total points, linear predictor and probability share one scale: total points stretched so the
    # round end of the Total points axis sits at 100.
    n_pred = len(nomogram.predictors)
    total_ticks = _nice(0.0, nomogram.max_total_points, 100.0, 5 * char_units, cover=True)
    stretch = 100.0 / total_ticks[-1]
    axis_row(n_pred + 1, total_ticks * stretch, [f"{v:g}" for v in total_ticks], rows[n_pred + 1])
    lp_lo, lp_hi = nomogram.total_points_to_linear_predictor([0.0, nomogram.max_total_points])
    lp_ticks = _nice(lp_lo, lp_hi, 100.0, 5 * char_units)
    lp_pos = nomogram.linear_predictor_to_total_points(lp_ticks)
    axis_row(n_pred + 2, lp_pos * stretch, [_fmt_tick(v) for v in lp_ticks], rows[n_pred + 2])
    prob_vals, prob_pos = _probability_ticks(nomogram, stretch, char_units)
    axis_row(n_pred + 3, prob_pos * stretch, [f"{v:g}" for v in prob_vals], rows[n_pred + 3])
    numbers["total_points_axis"] = total_ticks
    numbers["linear_predictor_axis"] = {"values": lp_ticks, "total_points": lp_pos}
    numbers["probability_axis"] = {"values": prob_vals, "total_points": prob_pos}
    if patient is not None:
        numbers["patient"] = _mark_patient(ax, nomogram, patient, stretch, len(rows))
    return fig, numbers


def _mark_patient(ax, nomogram: Nomogram, patient, stretch: float, n_rows: int) -> dict:
    """Mark one patient's points on every row; returns their points, total and probability."""
    pts = nomogram.points(patient)
    total = float(sum(pts.values()))
    prob = float(nomogram.total_points_to_probability(total))
    lp = float(nomogram.total_points_to_linear_predictor(total))
    mark = dict(marker="v", color=_style.color(1), markersize=6, zorder=5, linestyle="none")
    for row, p in enumerate(nomogram.predictors, start=1):
        ax.plot([pts[p.name]], [-row + 0.09], **mark)
        ax.plot([pts[p.name]], [0.09], marker="|", color=_style.color(1), markersize=8)
    n_pred = len(nomogram.predictors)
    for row in (n_pred + 1, n_pred + 2, n_pred + 3):
        ax.plot([total * stretch], [-row + 0.09], **mark)
    ax.text(50, -(n_rows - 1) - 0.7, f"Patient: total {total:.0f} points, {nomogram.outcome_label.lower()} "
            f"{prob:.2f}", ha="center", va="top", fontsize=8, color=_style.color(1))
    return {"points": pts, "total_points": total, "linear_predictor": lp, "probability": prob}


def _nice(lo: float, hi: float, length_units: float, min_spacing: float, cover: bool = False) -> np.ndarray:
    """Round tick values within [lo, hi] spaced at least ``min_spacing`` axis units apart
    (``cover``: also the first round value at or beyond ``hi``)."""
    nbins = max(1, int(length_units / min_spacing))
    ticks = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    eps = 1e-9 * max(1.0, abs(hi - lo))
    inside = (ticks >= lo - eps) & (ticks <= hi + eps)
    if cover:
        beyond = np.flatnonzero(ticks > hi + eps)
        if beyond.size:
            inside[beyond[0]] = True
    return ticks[inside]


def _continuous_ticks(lo: float, hi: float, char_units: float, length_units: float = 100.0) -> np.ndarray:
    """Nice ticks inside [lo, hi] plus the ends when they do not crowd a neighbour."""
    ticks = _nice(lo, hi, length_units, 6 * char_units)
    width = hi - lo
    crowd = 0.06 * width
    if ticks.size == 0 or ticks[0] - lo > crowd:
        ticks = np.r_[lo, ticks]
    if ticks[-1] < hi - crowd:
        ticks = np.r_[ticks, hi]
    return ticks


def _probability_ticks(nomogram: Nomogram, stretch: float, char_units: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from a round list that fall on the total-points axis, thinned so labels keep
    one character of space between them."""
    at = nomogram.probability_to_total_points(_PROBABILITY_CANDIDATES)
    inside = (at >= 0) & (at <= nomogram.max_total_points)
    vals, pos = _PROBABILITY_CANDIDATES[inside], at[inside]
    order = np.argsort(pos)
    vals, pos = vals[order], pos[order]
    keep: list[int] = []
    # Prefer round probabilities: keep 0.1-steps first, then fill the tails where room remains.
    priority = np.argsort([0 if round(v * 10, 6) % 1 == 0 else 1 for v in vals], kind="stable")
    for k in priority:
        width = _chars(f"{vals[k]:g}")
        if all(abs(pos[k] - pos[j]) * stretch >= ((width + _chars(f"{vals[j]:g}")) / 2 + 1) * char_units
               for j in keep):
            keep.append(k)
    keep = sorted(keep)
    return vals[keep], pos[keep]


def _chars(text: str) -> float:
    """Width of a tick label in characters (a point or minus sign is about half a digit)."""
    return len(text) - 0.5 * (text.count(".") + text.count("-"))


def _fmt_tick(v: float) -> str:
    """Tick label without float noise (12, 0.5, 1e+03 -> 1000)."""
    text = f"{v:.6g}"
    return f"{float(text):.0f}" if "e+" in text else text
