"""Kaplan-Meier curves of risk groups with numbers at risk under the axis and the log-rank P."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hccrisk import stats
from hccrisk.errors import InputError
from hccrisk.report.figures import _style


@_style.publication_style
def km_figure(
    time: Any,
    event: Any,
    group: Any = None,
    *,
    labels: Mapping[Any, str] | None = None,
    group_order: Sequence[Any] | None = None,
    xlabel: str = "Time (months)",
    ylabel: str = "Recurrence-free survival",
    title: str | None = None,
    max_time: float | None = None,
    at_risk_times: Sequence[float] | None = None,
    confidence_band: bool = True,
    width_in: float = 4.2,
) -> tuple[Figure, dict]:
    """Kaplan-Meier curves per ``group`` (n,) of ``time`` (n,, months) and ``event`` (n,, 1 event, 0
    censored), with 95% log CIs, censoring ticks, numbers at risk under the axis and the log-rank P
    (``hccrisk.stats.kaplan_meier`` and ``hccrisk.stats.logrank``, as R survfit/survdiff).

    ``group`` None draws one curve ("All patients") without a test. ``labels`` maps group values to
    legend names; ``group_order`` fixes the order (and colours); ``at_risk_times`` defaults to the x
    ticks. Returns (figure, numbers): per group the step table (time, survival, lower, upper), n,
    events, median with CI; ``at_risk`` (times and counts per group); ``logrank`` (chisq, df, p_value;
    None for one curve).
    """
    if group is None:
        group = np.full(np.asarray(time).shape, "All patients", dtype=object)
    km = stats.kaplan_meier(time, event, group)
    found = list(km.median["group"])
    test = stats.logrank(time, event, group) if len(found) > 1 else None
    order = list(group_order) if group_order is not None else found
    missing = [g for g in order if g not in found]
    if missing or len(order) != len(found):
        raise InputError("km_figure", f"group_order {order} does not match the groups found {found}")
    names = {g: str((labels or {}).get(g, g)) for g in order}
    t_max = float(max_time) if max_time is not None else float(km.table["time"].max())
    if at_risk_times is None:
        ticks = _time_ticks(t_max)
    else:
        ticks = np.asarray(at_risk_times, dtype=float)
    at_risk = stats.kaplan_meier(time, event, group, times=ticks).at_times

    table_h = 0.2 * len(order) + 0.45
    legend_h = 0.16 * (len(order) + 1) + (0.25 if title else 0.0)
    fig = _style.new_figure(width_in, 2.7 + legend_h + table_h)
    ax, ax_risk = fig.subplots(2, 1, gridspec_kw={"height_ratios": [2.7 + legend_h, table_h]})
    numbers: dict[str, Any] = {"groups": {}, "at_risk": {"times": ticks}}
    for i, g in enumerate(order):
        steps = km.table[km.table["group"] == g]
        med = km.median[km.median["group"] == g].iloc[0]
        x = np.r_[0.0, steps["time"].to_numpy()]
        s = np.r_[1.0, steps["survival"].to_numpy()]
        c = _style.color(i)
        legend = f"{names[g]} (n = {med['n']}, events = {med['events']})"
        ax.step(x, s, where="post", color=c, linestyle=_style.linestyle(i), label=legend)
        if confidence_band:
            lo = np.r_[1.0, steps["lower"].to_numpy()]
            hi = np.r_[1.0, steps["upper"].to_numpy()]
            ax.fill_between(x, lo, hi, step="post", color=c, alpha=0.12, linewidth=0)
        censored = steps["n_censor"].to_numpy() > 0
        ax.plot(steps["time"].to_numpy()[censored], steps["survival"].to_numpy()[censored], linestyle="none",
                marker="|", markersize=4, markeredgewidth=0.8, color=c)
        numbers["groups"][names[g]] = {
            "time": steps["time"].to_numpy(), "survival": steps["survival"].to_numpy(),
            "lower": steps["lower"].to_numpy(), "upper": steps["upper"].to_numpy(),
            "n": int(med["n"]), "events": int(med["events"]),
            "median": med["median"], "median_low": med["lower"], "median_high": med["upper"]}
        numbers["at_risk"][names[g]] = at_risk.loc[at_risk["group"] == g, "n_risk"].to_numpy()
    numbers["logrank"] = None if test is None else {"chisq": test.chisq, "df": test.df, "p_value": test.p_value}

    x_pad = 0.02 * t_max
    ax.set(xlim=(-x_pad, t_max + x_pad), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel)
    ax.set_xticks(ticks)
    # Above the axes, so neither the legend nor the P value ever hides a curve.
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), handlelength=2.2, borderaxespad=0.3,
              title=None if test is None else f"Log-rank {_style.format_p(test.p_value)}", title_fontsize=8,
              alignment="left")
    if title:
        fig.suptitle(title, x=0.02, ha="left", fontsize=10)
    _risk_table(ax_risk, order, names, numbers["at_risk"], ticks, (-x_pad, t_max + x_pad))
    return fig, numbers


def _time_ticks(t_max: float) -> np.ndarray:
    """At most 7 ticks from 0 at a step that suits months (1, 2, 3, 6, 12, 24, ...)."""
    for step in (1, 2, 3, 6, 12, 24, 36, 60, 120):
        if t_max / step <= 6:
            break
    else:
        return MaxNLocator(nbins=6).tick_values(0, t_max)
    return np.arange(0.0, t_max * 1.0001, step)


def _risk_table(ax, order: list, names: dict, at_risk: dict, ticks: np.ndarray, xlim: tuple[float, float]) -> None:
    """Numbers at risk, one coloured row per group, aligned with the survival axis' ticks."""
    ax.set_xlim(*xlim)
    ax.set_ylim(len(order) - 0.5, -0.5)
    for i, g in enumerate(order):
        for t, n in zip(ticks, at_risk[names[g]]):
            ax.text(t, i, f"{n:d}", ha="center", va="center", fontsize=8, color=_style.color(i))
    ax.set_yticks(range(len(order)), [names[g] for g in order])
    for i, tick in enumerate(ax.get_yticklabels()):
        tick.set_color(_style.color(i))
    ax.tick_params(left=False, bottom=False, labelbottom=False)
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title("Number at risk", loc="left", fontsize=8.5)


def risk_groups(score: Any, cutoffs: Sequence[float], labels: Sequence[str] | None = None) -> np.ndarray:
    """Risk group label per patient from ``score`` (n,) and increasing ``cutoffs`` (a patient with
    ``score >= cutoff`` moves up a group), e.g. the X-tile cut-off found on the training cohort.
    Default labels: "Low risk", "High risk" (one cut-off) or "Low", "Intermediate", "High" (two)."""
    cuts = np.asarray(cutoffs, dtype=float)
    if cuts.ndim != 1 or cuts.size == 0 or np.any(np.diff(cuts) <= 0):
        raise InputError("cutoffs", f"need one or more increasing cut-offs, got {list(cutoffs)}")
    default = {1: ["Low risk", "High risk"], 2: ["Low risk", "Intermediate risk", "High risk"]}
    names = list(labels) if labels is not None else default.get(cuts.size, [f"Group {i + 1}" for i in range(cuts.size + 1)])
    if len(names) != cuts.size + 1:
        raise InputError("labels", f"{cuts.size} cut-offs make {cuts.size + 1} groups, got {len(names)} labels")
    s = np.asarray(score, dtype=float).ravel()
    if not np.all(np.isfinite(s)):
        raise InputError("score", "risk score has missing or non-finite values")
    return np.asarray(names, dtype=object)[np.searchsorted(cuts, s, side="right")]
