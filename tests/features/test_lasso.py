"""LASSO selector: glmnet's lambda path, CV deviance and coefficients, checked against R glmnet."""

import time

import numpy as np
import pandas as pd
import pytest
from scipy import special

from hccrisk.errors import InputError
from hccrisk.features import LassoSelector
from tests.stats.rref import requires_r, run_r


def lasso_data(seed=0, n=150, p=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 3.0, p) + rng.normal(size=p)  # unscaled on purpose
    lp = (X[:, :4] - X[:, :4].mean(axis=0)) / X[:, :4].std(axis=0) @ np.array([1.0, -1.0, 0.8, 0.5])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(p)]), y


def collinear_data(seed=1, n=30, p=8, noise=0.02):
    """Pairs of nearly identical features (correlation ~0.9998) whose small differences carry the outcome:
    the minimiser needs large opposite coefficients (~10^3), on which coordinate descent crawls, as on
    huang2022's mRMR radiomics features with signal-0 outcomes (the previous solver: 163 CPU-s here)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, p // 2))
    X = np.repeat(base, 2, axis=1) + noise * rng.normal(size=(n, p))
    y = ((X[:, 0::2] - X[:, 1::2]) @ rng.normal(size=p // 2) + noise * rng.normal(size=n) > 0).astype(int)
    return X, y


def kkt_violation(sel: LassoSelector, X: np.ndarray, y: np.ndarray) -> float:
    """Largest violation, relative to lambda, of the optimality conditions of ``-loglik / n + lambda |b|_1``
    (standardised features) along the full-data path: gradient lambda * sign(b_j) where b_j != 0, at most
    lambda where b_j = 0, 0 for the intercept."""
    xs = (X - X.mean(axis=0)) / X.std(axis=0)
    worst = 0.0
    for lam, b0, b in zip(sel.lambdas_, sel.intercept_path_, sel.coef_path_):
        resid = y - special.expit(b0 + X @ b)
        grad = xs.T @ resid / len(y)
        off = np.where(b != 0, np.abs(grad - lam * np.sign(b)), np.maximum(np.abs(grad) - lam, 0.0))
        worst = max(worst, off.max() / lam, abs(resid.mean()) / lam)
    return worst


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


def test_lasso_is_exact_and_quick_on_nearly_collinear_features():
    X, y = collinear_data()
    cpu = time.process_time()
    sel = LassoSelector(cv=5, random_state=0).fit(X, y)
    cpu = time.process_time() - cpu
    assert np.abs(sel.coef_path_).max() > 500  # the ill-conditioned regime is reached
    assert kkt_violation(sel, X, y) < 1e-6
    assert cpu < 20, f"{cpu:.1f} CPU-s (about 1.5 expected; the coordinate-descent-only solver took 163)"


@requires_r
def test_lasso_on_nearly_collinear_features_agrees_with_cv_glmnet():
    """glmnet's own coordinate descent does not converge here (it stops the path early, maxit reached):
    the same lambda.min, and a penalised objective at it no worse than glmnet's."""
    X, y = collinear_data()
    sel = LassoSelector(cv=5, random_state=0).fit(X, y)
    r = run_r("""
    suppressPackageStartupMessages(library(glmnet))
    x <- as.matrix(d[, grep("^f[0-9]", names(d))])
    cvf <- suppressWarnings(cv.glmnet(x, d$y, family = "binomial", lambda = lam$lam, foldid = d$foldid))
    out("lmin", cvf$lambda.min); out("coef", as.numeric(coef(cvf, s = "lambda.min")))
    """, d=pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]).assign(y=y, foldid=sel.foldid_),
        lam=pd.DataFrame({"lam": sel.lambdas_}))
    assert sel.lambda_min_ == pytest.approx(r["lmin"][0], rel=1e-12)

    def objective(b0: float, b: np.ndarray) -> float:
        eta = b0 + X @ b
        return float(-np.mean(y * eta - np.logaddexp(0, eta)) + sel.lambda_min_ * np.sum(np.abs(b) * X.std(axis=0)))

    assert objective(sel.intercept_, sel.coef_) <= objective(r["coef"][0], r["coef"][1:]) + 1e-12


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
