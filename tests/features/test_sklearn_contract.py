"""Every selector honours the scikit-learn estimator contract (sklearn.utils.estimator_checks) and
keeps DataFrames and feature names through a Pipeline."""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from hccrisk.features import CorrelationFilter, ICCFilter, LassoSelector, MRMRSelector, UnivariateLogisticFilter, UnivariateTestFilter
from tests.features.data import signal_data


@parametrize_with_checks([
    UnivariateTestFilter(), CorrelationFilter(), UnivariateLogisticFilter(), MRMRSelector(k=2),
    LassoSelector(cv=3, n_lambda=8, random_state=0),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_icc_filter_clones_and_keeps_its_observer_tables():
    obs = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=list("abc"))
    f = ICCFilter(obs, obs + 0.1, threshold=0.8)
    c = clone(f)
    assert c.get_params()["threshold"] == 0.8 and c.observer1.equals(obs)


def test_feature_names_survive_a_pipeline_of_selectors():
    X, y, _ = signal_data(n=120, n_noise=40, seed=1)
    pipe = Pipeline([
        ("scale", StandardScaler()), ("test", UnivariateTestFilter()), ("corr", CorrelationFilter()),
        ("mrmr", MRMRSelector(k=3)),
    ]).set_output(transform="pandas")
    out = pipe.fit_transform(X, y)
    assert isinstance(out, pd.DataFrame) and out.shape == (120, 3)
    assert set(out.columns) <= set(X.columns) and list(out.index) == list(X.index)
    np.testing.assert_array_equal(pipe.get_feature_names_out(), out.columns)
