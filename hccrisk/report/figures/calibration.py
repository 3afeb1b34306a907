"""Calibration curves: binned observed rates with CIs, the lowess curve, the ideal diagonal, a histogram
of the predictions along the bottom, and the Hosmer-Lemeshow P in the legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from hccrisk import stats
from hccrisk.report.figures import _style
from hccrisk.report.figures._inputs import model_panels

_HIST_BINS = 50
_HIST_HEIGHT = 0.1  # tallest histogram bar, in probability units of the y axis


@_style.publication_style
def calibration_figure(
    models: Mapping[str, tuple[Any, Any]],
    cohorts: Sequence[Any] | None = None,
    *,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
    level: float = 0.95,
    panel_size_in: float = 3.2,
) -> tuple[Figure, dict]:
    """Calibration of predicted probabilities: ``models`` = {name: (y, prob)} (each (n,), same patients),
    one panel per cohort label in ``cohorts`` (n,) (None: one panel).

    Per model (``hccrisk.stats.calibration_curve`` and ``hosmer_lemeshow``, ``n_bins`` groups): the
    observed event rate of each bin against its mean prediction with an exact ``level`` CI, the lowess
    curve, and a histogram of the predictions along the bottom; the legend gives the HL P.
    Returns (figure, numbers): numbers[cohort][model] = bins (n, events, mean_predicted, observed, low,
    high), smooth (predicted, observed), hosmer_lemeshow (statistic, df, p_value), brier,
    histogram (edges, counts).
    """
    panels = model_panels(models, cohorts, "calibration_figure", probability=True)
    n_models = len(panels[0][1])
    # The legend above each square panel has a title, one row per model and three key rows; the axis
    # labels need their own space below: the height grows with the rows so nothing is clipped.
    legend_rows = n_models + 3
    fig = _style.new_figure(panel_size_in * len(panels), panel_size_in + 0.4 + 0.16 * legend_rows)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    numbers: dict[str, dict] = {}
    edges = np.linspace(0, 1, _HIST_BINS + 1)
    # Small horizontal offsets keep several models' error bars apart.
    offsets = (np.arange(n_models) - (n_models - 1) / 2) * 0.012
    for ax, (cohort, entries) in zip(axes, panels):
        panel: dict[str, dict] = {}
        counts_all = [np.histogram(p, edges)[0] for _, _, p in entries]
        tallest = max(int(c.max()) for c in counts_all)
        for i, ((name, y, prob), counts) in enumerate(zip(entries, counts_all)):
            c = _style.color(i)
            curve = stats.calibration_curve(y, prob, n_bins=n_bins, strategy=strategy, level=level)
            hl = stats.hosmer_lemeshow(y, prob, groups=n_bins)
            b = curve.bins
            ax.errorbar(b["mean_predicted"] + offsets[i], b["observed"],
                        yerr=[b["observed"] - b["low"], b["high"] - b["observed"]], fmt="o", color=c,
                        markersize=3.5, elinewidth=0.7, capsize=0, alpha=0.55)
            ax.plot(curve.smooth["predicted"], curve.smooth["observed"].clip(0, 1), color=c,
                    linestyle=_style.linestyle(i), label=f"{name} (HL {_style.format_p(hl.p_value)})")
            ax.stairs(counts / tallest * _HIST_HEIGHT, edges, color=c, linewidth=0.8, alpha=0.8)
            panel[name] = {"bins": {k: b[k].to_numpy() for k in ("n", "events", "mean_predicted", "observed",
                                                                   "low", "high")},
                           "smooth": {k: curve.smooth[k].to_numpy() for k in ("predicted", "observed")},
                           "hosmer_lemeshow": hl.as_dict(), "brier": stats.brier(y, prob),
                           "histogram": {"edges": edges, "counts": counts}}
        ax.plot([0, 1], [0, 1], color=_style.GREY, linestyle=":", linewidth=0.8, zorder=0, label="Ideal")
        ax.errorbar([], [], yerr=[], fmt="o", color=_style.GREY, markersize=3.5, elinewidth=0.7,
                    label=f"Grouped observed ({level:.0%} CI)")
        ax.stairs([], [0], color=_style.GREY, linewidth=0.8, label="Histogram of predictions")
        ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="Predicted probability",
               ylabel="Observed proportion")
        ax.set_aspect("equal")
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.set_yticks(np.linspace(0, 1, 6))
        n, events = entries[0][1].size, int(entries[0][1].sum())
        prefix = "" if cohort == "all" else f"{cohort} "
        # Above the axes: any spot inside can hide a miscalibrated curve. The title heads the legend.
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), handlelength=2.2, borderaxespad=0.2,
                  title=f"{prefix}(n = {n}, events = {events})", title_fontsize=10, alignment="left")
        numbers[cohort] = panel
    return fig, numbers
