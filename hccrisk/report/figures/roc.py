"""ROC curves of several models, one cohort per panel, with AUC and its CI in the legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hccrisk import stats
from hccrisk.report.figures import _style
from hccrisk.report.figures._inputs import model_panels


def roc_points(y: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """Empirical ROC curve: a vertex at each distinct score, calling ``score >= threshold`` positive.

    ``y`` (n,) 0/1, ``score`` (n,). Returns ``fpr``, ``tpr`` (K+1,) starting at (0, 0) and
    ``thresholds`` (K+1,) with +inf first, highest threshold first (tied scores form one diagonal step).
    """
    order = np.argsort(-score, kind="mergesort")
    s, yy = score[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(yy)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return {"fpr": np.r_[0.0, fp / (y.size - y.sum())], "tpr": np.r_[0.0, tp / y.sum()],
            "thresholds": np.r_[np.inf, s[last_of_tie]]}


@_style.publication_style
def roc_figure(
    models: Mapping[str, tuple[Any, Any]],
    cohorts: Sequence[Any] | None = None,
    *,
    level: float = 0.95,
    panel_size_in: float = 3.2,
) -> tuple[Figure, dict]:
    """ROC curves of every model in ``models`` ({name: (y, score)}, each (n,) over the same patients),
    one panel per cohort label in ``cohorts`` ((n,) e.g. "Training"/"Validation"; None: one panel).

    The legend gives each model's AUC with its ``level`` DeLong CI (``hccrisk.stats.auc_ci``); a model keeps
    its colour and line style in every panel. Rows with a missing outcome or score are dropped per model.
    Returns (figure, numbers): numbers[cohort][model] = fpr, tpr, thresholds, auc, low, high, n, events
    (cohort key "all" when ``cohorts`` is None).
    """
    panels = model_panels(models, cohorts, "roc_figure")
    fig = _style.new_figure(panel_size_in * len(panels), panel_size_in + 0.35)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    numbers: dict[str, dict] = {}
    for ax, (cohort, entries) in zip(axes, panels):
        panel: dict[str, dict] = {}
        for i, (name, y, score) in enumerate(entries):
            curve = roc_points(y, score)
            auc = stats.auc_ci(y, score, level=level)
            ax.plot(curve["fpr"], curve["tpr"], color=_style.color(i), linestyle=_style.linestyle(i),
                    label=f"{name}: {auc.auc:.3f} ({auc.low:.3f}-{auc.high:.3f})")
            panel[name] = {**curve, "auc": auc.auc, "low": auc.low, "high": auc.high,
                           "n": int(y.size), "events": int(y.sum())}
        ax.plot([0, 1], [0, 1], color=_style.GREY, linestyle=":", linewidth=0.8, zorder=0)
        ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="1 - Specificity", ylabel="Sensitivity")
        ax.set_aspect("equal")
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.set_yticks(np.linspace(0, 1, 6))
        first = panel[entries[0][0]]
        prefix = "" if cohort == "all" else f"{cohort} "
        ax.set_title(f"{prefix}(n = {first['n']}, events = {first['events']})", loc="left")
        ax.legend(loc="lower right", title=f"AUC ({level:.0%} CI)", title_fontsize=7.5, handlelength=2.2,
                  borderaxespad=0.2, frameon=True, facecolor="white", edgecolor="none", framealpha=0.85)
        numbers[cohort] = panel
    return fig, numbers
