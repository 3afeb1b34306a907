"""LinearScore (Rad/DL score) against R glm; the classifier factory inside the radiomics pipeline."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from hccrisk.errors import InputError
from hccrisk.features import MRMRSelector
from hccrisk.models import CLASSIFIERS, LinearScore, compare_classifiers, make_classifier, make_pipeline_model
from hccrisk.stats import delong_unpaired
from hccrisk.stats import auc_ci
from tests.features.data import signal_data
from tests.stats.rref import requires_r, run_r


def score_data(seed=0, n=200):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"glcm_idm": rng.normal(size=n), "firstorder_mean": rng.normal(2, 3, n), "shape_sphericity": rng.uniform(size=n)})
    lp = -0.5 + 0.9 * X.glcm_idm - 0.2 * X.firstorder_mean + 1.0 * X.shape_sphericity
    return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)


@requires_r
def test_linear_score_is_the_glm_linear_predictor():
    X, y = score_data()
    s = LinearScore(name="rad_score").fit(X, y)
    r = run_r("""
    m <- glm(y ~ glcm_idm + firstorder_mean + shape_sphericity, family = binomial, data = d,
             control = glm.control(epsilon = 1e-14, maxit = 100))
    out("coef", coef(m)); out("se", sqrt(diag(vcov(m)))); out("lp", predict(m, type = "link"))
    """, d=X.assign(y=y))
    np.testing.assert_allclose(np.r_[s.intercept_, s.coef_], r["coef"], rtol=1e-7)
    np.testing.assert_allclose(s.se_, r["se"], rtol=1e-6)
    np.testing.assert_allclose(s.decision_function(X), r["lp"], rtol=1e-7, atol=1e-9)


def test_linear_score_formula_and_named_output():
    X, y = score_data(seed=1)
    s = LinearScore(name="rad_score").set_output(transform="pandas").fit(X, y)
    table = s.formula_table()
    assert list(table["term"]) == ["(Intercept)", "glcm_idm", "firstorder_mean", "shape_sphericity"]
    manual = table["coef"].iloc[0] + X.to_numpy() @ table["coef"].iloc[1:].to_numpy()
    out = s.transform(X)
    assert list(out.columns) == ["rad_score"]
    np.testing.assert_allclose(out["rad_score"], manual, rtol=1e-12)
    assert s.formula().startswith("rad_score = ") and "* glcm_idm" in s.formula()
    np.testing.assert_allclose(s.predict_proba(X)[:, 1], 1 / (1 + np.exp(-manual)), rtol=1e-12)


def test_linear_score_refuses_separable_data_with_a_clear_error():
    X = pd.DataFrame({"f": np.r_[np.zeros(10), np.ones(10)], "g": np.arange(20.0)})
    with pytest.raises(InputError, match="LinearScore.*select fewer features"):
        LinearScore().fit(X, np.r_[np.zeros(10), np.ones(10)])


_SEPARABLE_BLOBS = "the check's blobs are perfectly separable: unpenalised ML has no finite estimate and LinearScore refuses"


@parametrize_with_checks([LinearScore()], expected_failed_checks=lambda est: {c: _SEPARABLE_BLOBS for c in [
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_positive_only_tag_during_fit", "check_pipeline_consistency",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_classifiers_classes",
    "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit2d_predict1d"]})
def test_linear_score_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_each_classifier_learns_the_signal_inside_the_pipeline(name):
    X, y, _ = signal_data(n=240, n_noise=30, seed=2)
    model = make_pipeline_model([("mrmr", MRMRSelector(k=8))], classifier=name, random_state=0)
    model.fit(X.iloc[:160], y[:160])
    prob = model.predict_proba(X.iloc[160:])
    assert prob.shape == (80, 2) and np.allclose(prob.sum(axis=1), 1)
    assert auc_ci(y[160:], prob[:, 1]).auc > 0.7
    again = clone(model).fit(X.iloc[:160], y[:160])  # same random_state, same model
    np.testing.assert_allclose(again.predict_proba(X.iloc[160:]), prob)


def test_unknown_classifier_is_named():
    with pytest.raises(InputError, match="unknown name 'rf'.*xgboost"):
        make_classifier("rf")


def test_compare_classifiers_reports_both_cohorts_and_the_overfitting_test():
    X, y, _ = signal_data(n=240, n_noise=30, seed=3)
    table = compare_classifiers(X.iloc[:160], y[:160], X.iloc[160:], y[160:], [("mrmr", MRMRSelector(k=8))], names=["lr", "knn"], random_state=0)
    assert list(table["classifier"]) == ["lr", "knn"]
    knn = make_pipeline_model([("mrmr", MRMRSelector(k=8))], "knn").fit(X.iloc[:160], y[:160])
    p_train, p_val = knn.predict_proba(X.iloc[:160])[:, 1], knn.predict_proba(X.iloc[160:])[:, 1]
    row = table.set_index("classifier").loc["knn"]
    assert row.auc_train == auc_ci(y[:160], p_train).auc and row.auc_validation == auc_ci(y[160:], p_val).auc
    assert row.delong_p_train_vs_validation == delong_unpaired(y[:160], p_train, y[160:], p_val).p_value
    assert (table.low_validation <= table.auc_validation).all() and (table.auc_validation <= table.high_validation).all()
