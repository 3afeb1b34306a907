"""SHAP of linear score models: the closed form equals the Shapley values computed by brute force over
every coalition (interventional value function over the background), adds up to f(x) - E f, matches
the ``shap`` package's LinearExplainer when installed, and the figures draw every feature."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.report.figures.shap import linear_shap, shap_summary_figure, shap_waterfall_figure


def _data(n: int = 30, seed: int = 0) -> tuple[pd.Series, float, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)) * [1.0, 2.0, 0.5, 3.0] + [0, 1, -2, 5], columns=list("abcd"))
    X["c"] = (X["c"] > -2).astype(float)  # a 0/1 dummy term, as a categorical predictor's
    return pd.Series([0.8, -0.3, 1.2, 0.05], index=list("abcd")), -0.4, X


def _brute_force_shapley(w: pd.Series, b: float, x: pd.Series, background: pd.DataFrame) -> np.ndarray:
    """phi_j = sum over coalitions S without j of |S|!(p-|S|-1)!/p! [v(S + j) - v(S)], v(S) = mean over the
    background of f with the features in S taken from x (interventional)."""
    p = len(w)

    def v(s: tuple[int, ...]) -> float:
        z = background[w.index].to_numpy(float).copy()
        z[:, list(s)] = x[w.index].to_numpy(float)[list(s)]
        return float(np.mean(b + z @ w.to_numpy()))

    phi = np.zeros(p)
    for j in range(p):
        others = [k for k in range(p) if k != j]
        for r in range(p):
            for s in itertools.combinations(others, r):
                weight = math.factorial(r) * math.factorial(p - r - 1) / math.factorial(p)
                phi[j] += weight * (v(tuple(sorted(s + (j,)))) - v(s))
    return phi


def test_closed_form_equals_brute_force_shapley_and_is_additive():
    w, b, X = _data()
    background = X.iloc[:20]
    values = linear_shap(w, X, background)
    for i in (0, 7, 25):
        assert np.allclose(values.iloc[i].to_numpy(), _brute_force_shapley(w, b, X.iloc[i], background), atol=1e-12)
    f = b + X @ w
    assert np.allclose(values.sum(axis=1), f - (b + background @ w).mean(), atol=1e-12)


def test_matches_the_shap_package_linear_explainer():
    shap = pytest.importorskip("shap")
    w, b, X = _data(seed=1)
    background = X.iloc[:20]
    explainer = shap.LinearExplainer((w.to_numpy(), b), background.to_numpy())
    assert np.allclose(linear_shap(w, X, background).to_numpy(), explainer.shap_values(X.to_numpy()), atol=1e-10)


def test_missing_columns_and_values_are_named():
    w, _, X = _data()
    with pytest.raises(InputError, match="\\['d'\\]"):
        linear_shap(w, X.drop(columns="d"), X)
    X.iloc[0, 0] = np.nan
    with pytest.raises(InputError, match="missing values"):
        linear_shap(w, X, X)


def test_figures_show_every_feature_and_the_patient_sum():
    w, b, X = _data()
    values = linear_shap(w, X, X)
    fig, numbers = shap_summary_figure(values, X, labels={"a": "Feature A"})
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[-1] == max(numbers["features"], key=lambda r: r["mean_abs_shap"])["feature"].replace("a", "Feature A")
    assert len(labels) == 4
    base = float((b + X @ w).mean())
    fig, numbers = shap_waterfall_figure(values.iloc[3], X.iloc[3], base, max_features=2)
    assert numbers["output"] == pytest.approx(b + float(X.iloc[3] @ w))
    assert len(numbers["bars"]) == 3 and numbers["bars"][-1]["label"] == "2 other features"
