"""LASSO selector: glmnet's lambda path, CV deviance and coefficients, checked against R glmnet."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.features import LassoSelector
from tests.stats.rref import requires_r, run_r


def lasso_data(seed=0, n=150, p=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, p) + rng.normal(size=p)  # unscaled on purpose
    lp = (X[:, :4] - X[:, :4].mean(axis=0)) / X[:, :4].std(axis=0) @ np.array([1.0, -1.0, 0.8, 0.5])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(p)]), y


@requires_r
@pytest.mark.parametrize("n, p", [(150, 30), (80, 150)])  # n > p and p > n (strong rule at work)
def test_lasso_matches_cv_glmnet_with_the_same_folds(n, p):
    X, y = lasso_data(n=n, p=p)
    sel = LassoSelector(cv=5, random_state=1).fit(X, y)
    r = run_r("""
    suppressPackageStartupMessages(library(glmnet))
    x <- as.matrix(d[, grep("^f[0-9]", names(d))])
    out("lambda0", glmnet(x, d$y, family = "binomial", alpha = 1)$lambda[1])
    cvf <- cv.glmnet(x, d$y, family = "binomial", alpha = 1, lambda = lam$lam, foldid = d$foldid,
                     type.measure = "deviance", thresh = 1e-14, maxit = 1e7)
    out("cvm", cvf$cvm); out("cvsd", cvf$cvsd); out("lmin", cvf$lambda.min); out("l1se", cvf$lambda.1se)
    out("coef", as.numeric(coef(cvf, s = "lambda.min")))
    """, d=X.assign(y=y, foldid=sel.foldid_), lam=pd.DataFrame({"lam": sel.lambdas_}))
    assert sel.lambdas_[0] == pytest.approx(r["lambda0"][0], rel=1e-8)  # glmnet's own lambda_max
    np.testing.assert_allclose(sel.cv_mean_, r["cvm"], atol=1e-4)
    np.testing.assert_allclose(sel.cv_se_, r["cvsd"], atol=1e-4)
    assert sel.lambda_min_ == pytest.approx(r["lmin"][0], rel=1e-12)
    assert sel.lambda_1se_ == pytest.approx(r["l1se"][0], rel=1e-12)
    np.testing.assert_allclose(np.r_[sel.intercept_, sel.coef_], r["coef"], atol=1e-5)
    assert set(np.flatnonzero(sel.support_)) == set(np.flatnonzero(r["coef"][1:] != 0))


def test_lasso_keeps_the_informative_features_and_reports_its_figures():
    X, y = lasso_data(seed=2, n=300)
    sel = LassoSelector(cv=5, random_state=0).set_output(transform="pandas").fit(X, y)
    assert {"f0", "f1", "f2", "f3"} <= set(sel.get_feature_names_out())
    cv = sel.cv_table()
    assert len(cv) == 100 and cv["n_nonzero"].iloc[0] == 0 and cv["cv_mean"].idxmin() == sel.lambda_index_
    assert sel.path_table().shape == (100, 30)
    coef = sel.coef_table()
    assert coef["term"].iloc[0] == "(Intercept)" and len(coef) == sel.support_.sum() + 1
    one_se = LassoSelector(cv=5, random_state=0, rule="1se").fit(X, y)
    assert one_se.lambda_ == one_se.lambda_1se_ >= sel.lambda_min_
    assert one_se.support_.sum() <= sel.support_.sum()


def test_lasso_is_reproducible_with_a_seed():
    X, y = lasso_data(seed=3)
    a, b = LassoSelector(random_state=7).fit(X, y), LassoSelector(random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.foldid_, b.foldid_)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_lasso_min_features_moves_down_the_path_on_noise():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 10)), np.r_[np.zeros(40), np.ones(40)].astype(int)
    assert LassoSelector(random_state=0, min_features=2).fit(X, y).support_.sum() >= 2
    with pytest.raises(InputError, match="rule"):
        LassoSelector(rule="max").fit(X, y)
