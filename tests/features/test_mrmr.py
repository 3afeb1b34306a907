"""mRMR (MIQ: F-statistic relevance / mean |Pearson r| redundancy), checked on a small worked case."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccrisk.features import MRMRSelector


def small_case():
    rng = np.random.default_rng(5)
    n = 60
    y = np.r_[np.zeros(30), np.ones(30)].astype(int)
    a = y + rng.normal(scale=0.6, size=n)  # most relevant
    a_copy = a + rng.normal(scale=0.15, size=n)  # nearly as relevant, redundant with a
    b = y + rng.normal(scale=0.7, size=n)  # about as relevant, correlated with a only through y
    c = rng.normal(size=n)  # irrelevant
    return pd.DataFrame({"c": c, "a_copy": a_copy, "b": b, "a": a}), y


def test_mrmr_follows_the_quotient_rule_step_by_step():
    X, y = small_case()
    cols = list(X.columns)
    F = {c: stats.f_oneway(X[c][y == 0], X[c][y == 1]).statistic for c in cols}
    R = {(i, j): max(abs(np.corrcoef(X[i], X[j])[0, 1]), 0.001) for i in cols for j in cols}
    first = max(cols, key=F.get)
    second_scores = {c: F[c] / R[c, first] for c in cols if c != first}
    second = max(second_scores, key=second_scores.get)
    third_scores = {c: F[c] / ((R[c, first] + R[c, second]) / 2) for c in cols if c not in (first, second)}
    third = max(third_scores, key=third_scores.get)

    sel = MRMRSelector(k=3).fit(X, y)
    assert [cols[j] for j in sel.ranking_] == [first, second, third]
    assert (first, second) == ("a", "b")  # the redundant copy is passed over for the independent feature
    np.testing.assert_allclose(sel.scores_, [F[first], second_scores[second], third_scores[third]], rtol=1e-10)
    np.testing.assert_allclose(sel.relevance_, [F[c] for c in cols], rtol=1e-10)
    assert list(sel.get_feature_names_out()) == [c for c in cols if c in (first, second, third)]


def test_mrmr_is_deterministic_and_warns_when_k_exceeds_the_features():
    X, y = small_case()
    assert list(MRMRSelector(k=2).fit(X, y).ranking_) == list(MRMRSelector(k=2).fit(X, y).ranking_)
    with pytest.warns(UserWarning, match="keeping all"):
        assert MRMRSelector(k=10).fit(X, y).support_.all()


def test_mrmr_picks_the_same_features_in_the_same_order_as_mrmr_selection():
    mrmr = pytest.importorskip("mrmr", reason="mrmr-selection (the reference implementation) not installed")
    from tests.features.data import signal_data

    X, y, _ = signal_data(n=200, n_noise=100, seed=3)
    reference = mrmr.mrmr_classif(X=X, y=pd.Series(y), K=20, show_progress=False, n_jobs=1)
    assert list(X.columns[MRMRSelector(k=20).fit(X, y).ranking_]) == reference
