"""Decision curves: net benefit of each model against treat-all and treat-none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hccrisk import stats
from hccrisk.report.figures import _style
from hccrisk.report.figures._inputs import model_panels


@_style.publication_style
def decision_figure(
    models: Mapping[str, tuple[Any, Any]],
    cohorts: Sequence[Any] | None = None,
    *,
    thresholds: Sequence[float] | None = None,
    panel_size_in: float = 3.2,
) -> tuple[Figure, dict]:
    """Decision curves (Vickers & Elkin 2006) of ``models`` = {name: (y, prob)} (each (n,), same
    patients), one panel per cohort label in ``cohorts`` (n,) (None: one panel).

    Net benefit from ``hccrisk.stats.net_benefit`` at ``thresholds`` (default 0.00-0.99 by 0.01), with
    treat-all and treat-none. The y axis runs from a little below 0 to just above the prevalence, so
    treat-all's steep fall does not flatten the models' curves.
    Returns (figure, numbers): numbers[cohort] = threshold, treat_all, treat_none, prevalence, and
    net_benefit[model].
    """
    panels = model_panels(models, cohorts, "decision_figure", probability=True)
    pt = np.round(np.arange(0, 1, 0.01), 2) if thresholds is None else np.asarray(thresholds, dtype=float)
    fig = _style.new_figure(panel_size_in * 1.15 * len(panels), panel_size_in)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    numbers: dict[str, dict] = {}
    for ax, (cohort, entries) in zip(axes, panels):
        panel: dict[str, Any] = {"threshold": pt, "net_benefit": {}}
        for i, (name, y, prob) in enumerate(entries):
            nb = stats.net_benefit(y, prob, pt)
            ax.plot(pt, nb["net_benefit"], color=_style.color(i), linestyle=_style.linestyle(i), label=name)
            panel["net_benefit"][name] = nb["net_benefit"].to_numpy()
        y0 = entries[0][1]
        prevalence = float(y0.mean())
        # Treat-all/none depend on the outcome only: take them from the first model's rows.
        ref = stats.net_benefit(y0, entries[0][2], pt)
        ax.plot(pt, ref["treat_all"], color=_style.GREY, linewidth=1.0, label="Treat all")
        ax.plot(pt, ref["treat_none"], color="black", linewidth=1.0, label="Treat none")
        panel.update(treat_all=ref["treat_all"].to_numpy(), treat_none=ref["treat_none"].to_numpy(),
                     prevalence=prevalence)
        top = max(prevalence, max(float(np.nanmax(v)) for v in panel["net_benefit"].values()))
        ax.set(xlim=(pt.min(), pt.max()), ylim=(-0.1 * top - 0.01, 1.12 * top),
               xlabel="Threshold probability", ylabel="Net benefit")
        prefix = "" if cohort == "all" else f"{cohort} "
        ax.set_title(f"{prefix}(n = {y0.size}, events = {int(y0.sum())})", loc="left")
        ax.legend(loc="upper right", handlelength=2.2, borderaxespad=0.2, frameon=True, facecolor="white",
                  edgecolor="none", framealpha=0.85)
        numbers[cohort] = panel
    return fig, numbers
