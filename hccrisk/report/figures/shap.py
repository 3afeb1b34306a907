"""SHAP explanations of linear score models (Rad score, DL score, nomogram / logistic models): exact
values and the two usual plots, a summary (beeswarm) over patients and a waterfall for one patient.

For a model linear in its inputs, f(x) = b + sum_j w_j x_j (here the log-odds), the Shapley values with
the interventional value function over a background set B (what ``shap.LinearExplainer`` computes with
independent features) are exactly phi_j(x) = w_j (x_j - mean_B x_j), and they add up to
f(x) - mean_B f. No sampling, no approximation; tests check them against a brute-force Shapley sum and
against the ``shap`` package when it is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from hccrisk.errors import InputError
from hccrisk.report.figures import _style

#: blue (low feature value) -> vermillion (high), the palette's first two colours
_VALUE_CMAP = LinearSegmentedColormap.from_list("shap_value", [_style.PALETTE[0], "#BBBBBB", _style.PALETTE[1]])


def linear_shap(coefficients: pd.Series | Mapping[str, float], X: pd.DataFrame, background: pd.DataFrame) -> pd.DataFrame:
    """Exact SHAP values of f(x) = b + sum_j w_j x_j.

    Args:
        coefficients: w, indexed by column name (the model's terms).
        X: (patients, terms) values to explain; background: (n, terms), usually the training cohort.
    Returns:
        (patients, terms) SHAP values in the model's output units (log-odds for a logistic model); row sums
        equal f(x) - mean over the background of f.
    """
    w = pd.Series(coefficients, dtype=float)
    missing = [c for c in w.index if c not in X.columns or c not in background.columns]
    if missing:
        raise InputError("SHAP", f"columns {missing} of the model are not in the data")
    x, bg = X[w.index].astype(float), background[w.index].astype(float)
    if x.isna().any().any() or bg.isna().any().any():
        raise InputError("SHAP", "missing values: fill them as the model does before explaining it")
    return (x - bg.mean()) * w


def logit_terms(model: Any, X: pd.DataFrame) -> pd.DataFrame:
    """The term values a fitted ``hccrisk.models`` logistic model (``NomogramModel``, ``ClinicalModel``)
    multiplies by its coefficients: missing values filled as the model does, categorical predictors as
    0/1 dummies named like ``params_`` (``sex[M]``). (patients, terms)."""
    df = model._fill(model._frame(X, model.selected_), "X")
    terms = [str(t) for t in model.params_.index if t != "const"]
    return pd.DataFrame({t: model._term_values(df, t) for t in terms}, index=X.index)


def _order(values: pd.DataFrame, max_features: int) -> list[str]:
    return list(values.abs().mean().sort_values(ascending=False).index[:max_features])


@_style.publication_style
def shap_summary_figure(values: pd.DataFrame, features: pd.DataFrame, labels: Mapping[str, str] | None = None,
                        max_features: int = 15, title: str | None = None,
                        width_in: float = _style.DOUBLE_COLUMN_IN * 0.8) -> tuple[Figure, dict]:
    """Beeswarm summary: one row per feature (by mean |SHAP|, largest on top), one dot per patient at its
    SHAP value, coloured by the feature's value (low blue -> high vermillion, ranked within the feature).

    Args:
        values: (patients, features) SHAP values (``linear_shap``); features: the same patients' values.
        labels: display names of the features.
    Returns:
        (Figure, numbers: per feature mean |SHAP| and the plotted points).
    """
    if values.empty:
        raise InputError("shap_summary_figure", "no SHAP values to plot")
    labels = dict(labels or {})
    order = _order(values, max_features)
    fig = _style.new_figure(width_in, 0.9 + 0.32 * len(order))
    ax = fig.add_subplot(1, 1, 1)
    rng = np.random.default_rng(0)  # vertical jitter only, fixed so the figure is reproducible
    numbers: dict[str, Any] = {"features": []}
    for row, name in enumerate(reversed(order)):
        v = values[name].to_numpy(float)
        f = features.loc[values.index, name].astype(float).rank(pct=True).to_numpy()
        ax.scatter(v, row + rng.uniform(-0.28, 0.28, len(v)), c=f, cmap=_VALUE_CMAP, vmin=0, vmax=1, s=10,
                   linewidths=0, alpha=0.9)
        numbers["features"].append({"feature": name, "mean_abs_shap": float(np.abs(v).mean()), "shap": v.tolist()})
    ax.axvline(0, color=_style.GREY, lw=0.8)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([labels.get(n, n) for n in reversed(order)])
    ax.set_xlabel("SHAP value (log-odds of the event)")
    if title:
        ax.set_title(title)
    sm = ax.collections[0]
    bar = fig.colorbar(sm, ax=ax, fraction=0.04, pad=0.02, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value", fontsize=8)
    return fig, numbers


@_style.publication_style
def shap_waterfall_figure(values: pd.Series, features: pd.Series, base: float, labels: Mapping[str, str] | None = None,
                          max_features: int = 12, title: str | None = None,
                          width_in: float = _style.DOUBLE_COLUMN_IN * 0.8) -> tuple[Figure, dict]:
    """Waterfall of one patient: from the background's mean output ``base`` (log-odds) each feature's SHAP
    value (largest |value| on top; the rest summed in one bar) to the patient's output f(x).

    Args:
        values: the patient's SHAP values (a row of ``linear_shap``); features: the patient's values.
    Returns:
        (Figure, numbers: base, output, the bars in order).
    """
    if values.empty:
        raise InputError("shap_waterfall_figure", "no SHAP values to plot")
    labels = dict(labels or {})
    order = list(values.abs().sort_values(ascending=False).index)
    shown, rest = order[:max_features], order[max_features:]
    bars = [(f"{labels.get(n, n)} = {features[n]:.3g}", float(values[n])) for n in shown]
    if rest:
        bars.append((f"{len(rest)} other features", float(values[rest].sum())))
    fig = _style.new_figure(width_in, 1.0 + 0.3 * len(bars))
    ax = fig.add_subplot(1, 1, 1)
    start = base + sum(v for _, v in bars)  # f(x); bars drawn top (largest) to bottom ending at base
    pos = start
    numbers = {"base": float(base), "output": float(start), "bars": []}
    for row, (name, v) in enumerate(bars):
        y = len(bars) - 1 - row
        left = pos - v
        ax.barh(y, v, left=left, color=_style.PALETTE[1] if v > 0 else _style.PALETTE[0], height=0.7)
        ax.text(max(pos, left), y, f" {v:+.3f}", va="center", ha="left", fontsize=7)
        numbers["bars"].append({"label": name, "shap": v})
        pos = left
    ax.axvline(base, color=_style.GREY, lw=0.8, ls="--")
    ax.axvline(start, color="black", lw=0.8)
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([n for n, _ in reversed(bars)])
    ax.set_xlabel(f"log-odds: E[f(x)] = {base:.3f} (dashed) -> f(x) = {start:.3f} (solid)")
    ends = np.cumsum([start] + [-v for _, v in bars])  # every bar end, from f(x) down to base
    lo, hi = float(ends.min()), float(ends.max())
    span = max(hi - lo, 1e-9)
    ax.set_xlim(lo - 0.05 * span, hi + 0.15 * span)  # both reference lines inside; room for the value labels
    if title:
        ax.set_title(title)
    return fig, numbers
