"""Forest plot of odds or hazard ratios with CIs and P values on a log axis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

from hccrisk.errors import InputError
from hccrisk.report.figures import _style

# Column names the statistics tables use, tried in this order: (estimate, low, high).
_ESTIMATE_COLUMNS = (("estimate", "low", "high"), ("OR", "low", "high"), ("HR", "low", "high"),
                     ("hr", "hr_low", "hr_high"), ("or", "or_low", "or_high"))
_LABEL_COLUMNS = ("label", "term", "covariate", "variable")
_P_COLUMNS = ("p", "p_value")
_RATIO_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
_FINE_RATIO_TICKS = (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10)


def _rows_frame(rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with label, estimate, low, high, p (NaN when absent), section (or None)."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        raise InputError("forest_figure", "no rows to plot")
    label_col = next((c for c in _LABEL_COLUMNS if c in df.columns), None)
    if label_col is None:  # labels in the index, as stats.cox_fit's table
        df = df.reset_index()
        label_col = df.columns[0]
    names = next((c for c in _ESTIMATE_COLUMNS if set(c) <= set(df.columns)), None)
    if names is None:
        raise InputError("forest_figure", f"needs columns estimate/low/high (or hr/hr_low/hr_high, or/or_low/or_high); "
                                          f"got {list(df.columns)}")
    p_col = next((c for c in _P_COLUMNS if c in df.columns), None)
    out = pd.DataFrame({"label": df[label_col].astype(str),
                        "estimate": df[names[0]].astype(float), "low": df[names[1]].astype(float),
                        "high": df[names[2]].astype(float),
                        "p": df[p_col].astype(float) if p_col else np.nan,
                        "section": df["section"].fillna("").astype(str) if "section" in df.columns else ""})
    values = out[["estimate", "low", "high"]].to_numpy()
    finite = values[np.isfinite(values)]
    if (finite <= 0).any():
        raise InputError("forest_figure", "ratios and their CI limits must be positive (a log axis); "
                                          "pass exp(coef), not coef")
    bad = out[(out["low"] > out["estimate"]) | (out["high"] < out["estimate"])]
    if len(bad):
        raise InputError(str(bad["label"].iloc[0]), "estimate lies outside its CI")
    return out


@_style.publication_style
def forest_figure(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    measure: str = "OR",
    level: float = 0.95,
    title: str | None = None,
    width_in: float = _style.DOUBLE_COLUMN_IN * 0.85,
) -> tuple[Figure, dict]:
    """Forest plot: one row per predictor with its ratio (``measure``: "OR" or "HR") and ``level`` CI on
    a log axis, the line of no effect at 1, and the numbers ("1.85 (1.20-2.86)", P) printed at the right.

    ``rows``: a DataFrame or list of dicts with ``label``, ``estimate``, ``low``, ``high`` and optionally
    ``p`` and ``section`` (rows of a section are grouped under its heading, e.g. "Univariable" /
    "Multivariable"). Statistics tables are taken as they are: ``stats.logit_table`` (term, OR, low,
    high, p_value) and ``stats.cox_fit(...).table`` (index = covariate, hr, hr_low, hr_high, p). Rows with a missing CI are listed with "NA" and no marker.
    Returns (figure, numbers): rows (label, section, estimate, low, high, p, y position) and x limits.
    """
    df = _rows_frame(rows)
    # Layout rows top to bottom, a heading row before each section.
    lines: list[tuple[str, int | None]] = []  # (text, row index or None for a heading)
    sections = list(dict.fromkeys(df["section"].tolist()))
    for sec in sections:
        idx = df.index[df["section"] == sec]
        if sec:
            lines.append((sec, None))
        lines.extend((df.at[i, "label"], i) for i in idx)
    n_lines = len(lines)
    fig = _style.new_figure(width_in, 0.75 + 0.24 * (n_lines + 1))
    ax_label, ax, ax_text = fig.subplots(1, 3, sharey=True, gridspec_kw={"width_ratios": [2.3, 3.0, 2.2]})
    finite = df[["low", "high"]].to_numpy()
    finite = finite[np.isfinite(finite)]
    lo = min(finite.min(initial=1.0), 1.0)
    hi = max(finite.max(initial=1.0), 1.0)
    x_lo, x_hi = lo / (hi / lo) ** 0.06, hi * (hi / lo) ** 0.06  # 6 % padding on the log scale
    y_pos = {}
    for k, (text, i) in enumerate(lines):
        y = n_lines - 1 - k
        if i is None:
            ax_label.text(0, y, text, ha="left", va="center", fontweight="bold")
            continue
        y_pos[i] = y
        row = df.loc[i]
        indent = "   " if row["section"] else ""
        ax_label.text(0, y, indent + text, ha="left", va="center")
        if np.isfinite(row["low"]) and np.isfinite(row["high"]):
            ax.plot([row["low"], row["high"]], [y, y], color="black", lw=1.0)
            ax.plot([row["estimate"]], [y], marker="s", color=_style.color(0), markersize=5)
            ci = f"{row['estimate']:.2f} ({row['low']:.2f}-{row['high']:.2f})"
        elif np.isfinite(row["estimate"]):  # e.g. a penalised fit: an estimate without a valid CI
            ax.plot([row["estimate"]], [y], marker="s", markerfacecolor="white", color=_style.color(0),
                    markersize=5)
            ci = f"{row['estimate']:.2f} (NA)"
        else:
            ci = "NA"
        ax_text.text(0.0, y, ci, ha="left", va="center")
        if np.isfinite(row["p"]):
            ax_text.text(1.0, y, _style.format_p(row["p"]).replace("P ", "").lstrip("= "), ha="right",
                         va="center")
    header_y = n_lines - 0.2
    ax_text.text(0.0, header_y, f"{measure} ({level:.0%} CI)", ha="left", va="bottom", fontweight="bold")
    if df["p"].notna().any():
        ax_text.text(1.0, header_y, "P", ha="right", va="bottom", fontweight="bold", fontstyle="italic")
    ax.axvline(1.0, color=_style.GREY, linestyle="--", linewidth=0.8, zorder=0)
    ax.set_xscale("log")
    ax.set_xlim(x_lo, x_hi)
    ticks = [t for t in _RATIO_TICKS if x_lo <= t <= x_hi]
    if len(ticks) < 3:  # a narrow range: finer steps
        ticks = [t for t in _FINE_RATIO_TICKS if x_lo <= t <= x_hi] or ticks
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"{measure} ({level:.0%} CI), log scale")
    ax.set_ylim(-0.7, n_lines + 0.3)
    ax.tick_params(left=False)
    ax.spines["left"].set_visible(False)
    for side_ax in (ax_label, ax_text):
        side_ax.set_axis_off()
        side_ax.set_xlim(0, 1)
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=10)
    numbers = {"rows": [{"label": df.at[i, "label"], "section": df.at[i, "section"] or None,
                         **{k: float(df.at[i, k]) for k in ("estimate", "low", "high", "p")}, "y": y_pos[i]}
                        for i in df.index],
               "xlim": [float(x_lo), float(x_hi)], "xticks": ticks, "measure": measure}
    return fig, numbers
