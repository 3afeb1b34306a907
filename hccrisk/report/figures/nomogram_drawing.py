"""Drawing a :class:`~hccrisk.report.figures.nomogram.Nomogram` in the layout of R ``rms::nomogram``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hccrisk.errors import InputError
from hccrisk.report.figures import _style
from hccrisk.report.figures.nomogram import Nomogram

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
    height = 0.42 * len(rows) + 0.5 + (0.45 if patient is not None else 0.0)
    fig = _style.new_figure(width_in, height)
    fig.set_layout_engine("none")  # placed by hand below: the point scale must know its width in inches
    title_in = max(_text_width_in(fig, r, 9) for r in rows) + 0.15
    char_in = _text_width_in(fig, "0123456789", 7.5) / 10
    margin = 0.1
    plot_in = width_in - 2 * margin - title_in - 0.2  # 0.2 in: half of a tick label past 100 points
    if plot_in < 2.0:
        raise InputError("nomogram_figure", f"width {width_in} in leaves no room for the axes; widen it or "
                                            f"shorten the row titles")
    box = (margin / height, 1 - 2 * margin / height)
    ax_titles = fig.add_axes((margin / width_in, box[0], title_in / width_in, box[1]))
    ax = fig.add_axes(((margin + title_in) / width_in, box[0], plot_in / width_in, box[1]), sharey=ax_titles)
    ax_titles.set_axis_off()
    ax.set_axis_off()
    ax_titles.set_xlim(0, 1)
    ax.set_xlim(-1, 101)
    char_units = char_in * 102 / plot_in  # width of one tick-label digit in points units
    ax.set_ylim(-(len(rows) - 0.35 + (0.8 if patient is not None else 0.0)), 0.75)
    numbers: dict = {"kind": nomogram.kind, "scale": nomogram.scale,
                     "max_total_points": nomogram.max_total_points, "predictors": {}}

    def axis_row(row: int, positions, texts, title: str, above: bool = False, extent=None):
        y = -row
        ax_titles.text(0, y, title, ha="left", va="center", fontsize=9)
        if len(positions) == 0:
            return
        ends = extent if extent is not None else (min(positions), max(positions))
        ax.plot(ends, [y, y], color="black", lw=0.8, solid_capstyle="butt")
        last_right = {above: -np.inf, not above: -np.inf}  # right edge of the last label on each side
        for k in np.argsort(positions, kind="stable"):
            pos, text = float(positions[k]), texts[k]
            half = _chars(text) * char_units / 2
            gap = 0.8 * char_units
            if pos - half >= last_right[above] + gap:
                up, x = above, pos
            elif pos - half >= last_right[not above] + gap:
                up, x = not above, pos  # crowded labels go to the other side of the line
            else:  # crowded on both sides: nudge the label right; its tick stays at the true value
                up = min(last_right, key=last_right.get)
                x = last_right[up] + gap + half
            last_right[up] = x + half
            sign = 1 if up else -1
            ax.plot([pos, pos], [y, y + sign * 0.09], color="black", lw=0.8)
            ax.text(x, y + sign * 0.13, text, ha="center", va="bottom" if up else "top", fontsize=7.5)

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
            length = (p.effect_range[1] - p.effect_range[0]) * nomogram.scale
            values = [float(v) for v in _continuous_ticks(p.low, p.high, length, char_units)]
            texts = [_fmt_tick(v) for v in values]
        positions = nomogram.predictor_points(p.name, values)
        extent = None if p.categorical else tuple(nomogram.predictor_points(p.name, [p.low, p.high]))
        axis_row(row, positions, texts, rows[row], extent=extent)
        numbers["predictors"][p.name] = {"values": values, "points": positions}
    # Total points, linear predictor and probability share one scale: total points stretched so the
    # round end of the Total points axis sits at 100.
    n_pred = len(nomogram.predictors)
    spacing = max(8.0, 5 * char_units)  # points between ticks, as on the predictor axes
    total_ticks = _nice(0.0, nomogram.max_total_points, 100.0, spacing, cover=True)
    stretch = 100.0 / total_ticks[-1]
    axis_row(n_pred + 1, total_ticks * stretch, [f"{v:g}" for v in total_ticks], rows[n_pred + 1])
    lp_lo, lp_hi = nomogram.total_points_to_linear_predictor([0.0, nomogram.max_total_points])
    lp_ticks = _nice(lp_lo, lp_hi, 100.0, spacing)
    lp_pos = nomogram.linear_predictor_to_total_points(lp_ticks)
    full = (0.0, nomogram.max_total_points * stretch)  # these lines span every attainable total
    axis_row(n_pred + 2, lp_pos * stretch, [_fmt_tick(v) for v in lp_ticks], rows[n_pred + 2], extent=full)
    prob_vals, prob_pos = _probability_ticks(nomogram, stretch, char_units)
    axis_row(n_pred + 3, prob_pos * stretch, [f"{v:g}" for v in prob_vals], rows[n_pred + 3], extent=full)
    numbers["total_points_axis"] = total_ticks
    numbers["linear_predictor_axis"] = {"values": lp_ticks, "total_points": lp_pos}
    numbers["probability_axis"] = {"values": prob_vals, "total_points": prob_pos}
    if patient is not None:
        numbers["patient"] = _mark_patient(ax, nomogram, patient, stretch, len(rows), rows[-1])
    return fig, numbers


def _mark_patient(ax, nomogram: Nomogram, patient, stretch: float, n_rows: int, outcome: str) -> dict:
    """Mark one patient's value on every row (a dot on the line, clear of the tick labels) and print
    the total points and probability; returns their points, total, linear predictor, probability and
    the predictors whose value lies outside the drawn axis (extrapolated; the dot sits at the axis end,
    hollow)."""
    pts = nomogram.points(patient)
    total = float(sum(pts.values()))
    prob = float(nomogram.total_points_to_probability(total))
    lp = float(nomogram.total_points_to_linear_predictor(total))
    outside = []
    for row, p in enumerate(nomogram.predictors, start=1):
        lo, hi = sorted(nomogram.predictor_points(p.name, [p.low, p.high])) if not p.categorical else (0, 100)
        inside = lo - 1e-9 <= pts[p.name] <= hi + 1e-9
        if not inside:
            outside.append(p.name)
        _dot(ax, min(max(pts[p.name], lo), hi), -row, filled=inside)
    n_pred = len(nomogram.predictors)
    for row in (n_pred + 1, n_pred + 2, n_pred + 3):
        _dot(ax, min(max(total * stretch, 0.0), 100.0), -row, filled=not outside)
    note = f"Patient (dots): {total:.0f} total points; {outcome}: {prob:.2f}"
    if outside:
        note += f"\nextrapolated beyond the axes (hollow dots): {', '.join(outside)}"
    ax.text(50, -(n_rows - 1) - 0.7, note, ha="center", va="top", fontsize=8, color=_style.color(1))
    return {"points": pts, "total_points": total, "linear_predictor": lp, "probability": prob,
            "outside_range": outside}


def _dot(ax, x: float, y: float, filled: bool) -> None:
    ax.plot([x], [y], marker="o", color=_style.color(1), markerfacecolor=_style.color(1) if filled else "white",
            markersize=5, zorder=5, linestyle="none")


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


def _continuous_ticks(lo: float, hi: float, length_units: float, char_units: float) -> np.ndarray:
    """Round ticks inside [lo, hi] (an axis ``length_units`` points long), as many as fit with two
    characters of space between labels, plus the ends where they fit."""

    def fits(ticks: np.ndarray) -> bool:
        pos = (ticks - lo) / (hi - lo) * length_units
        widths = np.array([_chars(_fmt_tick(t)) for t in ticks]) * char_units
        return bool(np.all(np.diff(pos) >= (widths[1:] + widths[:-1]) / 2 + 2 * char_units))

    ticks = np.array([lo, hi])
    # At most one interval per 8 points (rms-like density), fewer where the labels would crowd.
    for nbins in range(max(1, int(min(length_units / 8, length_units / (2 * char_units)))), 0, -1):
        candidate = _nice(lo, hi, length_units, length_units / nbins)
        if candidate.size and fits(candidate):
            ticks = candidate
            break
    for end, inward in ((lo, hi), (hi, lo)):
        end = _round_toward(end, inward)  # 3 significant digits, kept on the axis: -1.48969 -> -1.48
        if not np.any(np.isclose(ticks, end)) and fits(np.sort(np.r_[ticks, end])):
            ticks = np.sort(np.r_[ticks, end])
    return ticks


def _round_toward(v: float, toward: float, digits: int = 3) -> float:
    """``v`` to ``digits`` significant digits, rounded in the direction of ``toward``."""
    if v == 0 or not np.isfinite(v):
        return float(v)
    scale = 10.0 ** (digits - 1 - int(np.floor(np.log10(abs(v)))))
    rounded = np.ceil(v * scale) if toward > v else np.floor(v * scale)
    return float(rounded / scale)


def _probability_ticks(nomogram: Nomogram, stretch: float, char_units: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from a round list that fall on the total-points axis, thinned so labels keep
    one character of space between them."""
    at = nomogram.probability_to_total_points(_PROBABILITY_CANDIDATES)
    inside = (at >= 0) & (at <= nomogram.max_total_points)
    vals, pos = _PROBABILITY_CANDIDATES[inside], at[inside]
    order = np.argsort(pos)
    vals, pos = vals[order], pos[order]
    keep: list[int] = []
    # Place the roundest first (0.5, then 0.1 and 0.9, other tenths, then the tails) where room remains.
    priority = np.argsort([_roundness(v) for v in vals], kind="stable")
    for k in priority:
        width = _chars(f"{vals[k]:g}")
        if all(abs(pos[k] - pos[j]) * stretch >= ((width + _chars(f"{vals[j]:g}")) / 2 + 1) * char_units
               for j in keep):
            keep.append(k)
    keep = sorted(keep)
    return vals[keep], pos[keep]


def _roundness(p: float) -> int:
    """Rank of a probability tick: 0 for 0.5, 1 for 0.1/0.9, 2 other tenths, 3 for 0.05/0.95, 4 others."""
    p = round(float(p), 6)
    if p == 0.5:
        return 0
    if p in (0.1, 0.9):
        return 1
    if round(p * 10, 6) % 1 == 0:
        return 2
    return 3 if p in (0.05, 0.95) else 4


def _text_width_in(fig: Figure, text: str, size: float) -> float:
    """Rendered width in inches of ``text`` at ``size`` points."""
    artist = fig.text(0, 0, text, fontsize=size)
    width = artist.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    artist.remove()
    return width


def _chars(text: str) -> float:
    """Width of a tick label in characters (a point or minus sign is about half a digit)."""
    return len(text) - 0.5 * (text.count(".") + text.count("-"))


def _fmt_tick(v: float) -> str:
    """Tick label without float noise (12, 0.5, 1e+03 -> 1000)."""
    text = f"{v:.6g}"
    return f"{float(text):.0f}" if "e+" in text else text
