"""L1-penalised logistic regression with cross-validated lambda, as R ``cv.glmnet(family="binomial",
alpha=1)`` (huang2022, chen2025, zhao2024: LASSO with 5-fold CV, lambda.min).

Objective per lambda (glmnet's scale): ``-loglik(b0, b) / n + lambda * ||b||_1`` on internally
standardised features (mean 0, SD with divisor n, as glmnet's ``standardize=TRUE``); the intercept is
not penalised; coefficients are reported on the original scale. Solver: glmnet's own scheme -
iteratively reweighted least squares (Newton) warm-started along the path, with glmnet's sequential
strong rule and a KKT check (exact solution, fewer columns per fit). Each penalised weighted
least-squares step is solved by scikit-learn's coordinate descent (``lasso_path``, warm-started); when
that has not converged after ``_CD_SWEEPS`` sweeps - nearly collinear features, where coordinate
descent crawls (huang2022's mRMR features on signal-0 outcomes: up to 10^5 sweeps per step, 77 s per
fit) - the step is solved exactly by LARS-lasso on its Gram matrix (``lars_path_gram``), which does not
depend on the conditioning. Both give the same minimiser, to rounding.
Lambda path: ``n_lambda`` values log-spaced from lambda_max (the smallest lambda giving all-zero
coefficients) down to ``lambda_min_ratio * lambda_max`` (glmnet's default ratio: 0.01 when n < p, else
1e-4). CV: binomial deviance of held-out folds, fold means averaged weighted by fold size, SE as
glmnet's ``cvsd``; lambda.min = the largest lambda reaching the minimum mean deviance, lambda.1se = the
largest lambda within one SE of it.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path_gram, lasso_path
from sklearn.model_selection import StratifiedKFold

from hccrisk.features._validation import EstimatorInputError, check_X_binary_y
from hccrisk.features.filters import _Filter
from hccrisk.log import get_logger

__all__ = ["LassoSelector", "logistic_lasso_path", "logistic_lambda_max"]

_log = get_logger(__name__)
_P_CLIP = 1e-5  # glmnet clips held-out probabilities to [1e-5, 1 - 1e-5] for the CV deviance
#: Coordinate-descent sweeps before an inner step is handed to the exact LARS-lasso solve: warm-started
#: steps on well-conditioned features converge in far fewer.
_CD_SWEEPS = 1000


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, mean, sd): columns centred and scaled by their SD with divisor n; constant columns 0."""
    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, np.inf)  # a constant column becomes all zeros and keeps coefficient 0
    return (X - mean) / sd, mean, sd


def logistic_lambda_max(X: np.ndarray, y: np.ndarray) -> float:
    """Smallest lambda at which every coefficient is 0: max_j |xs_j . (y - ybar)| / n."""
    xs, _, _ = _standardise(np.asarray(X, float))
    return float(np.max(np.abs(xs.T @ (y - y.mean()))) / len(y))


def logistic_lasso_path(
    X: np.ndarray, y: np.ndarray, lambdas: np.ndarray, tol: float = 1e-9, max_irls: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts (L,) and coefficients (L, p), original scale, of the L1 logistic model at each
    lambda (decreasing), ``X`` (n, p), ``y`` (n,) 0/1.

    glmnet's sequential strong rule (Tibshirani et al. 2012) restricts each fit to the features that
    can enter; the KKT conditions are then checked on all others and violators added, so the result
    is the exact solution, only faster when p is large.
    """
    xs, mean, sd = _standardise(np.asarray(X, float))
    n, p = xs.shape
    ybar = y.mean()
    b0, b = np.log(ybar / (1 - ybar)), np.zeros(p)
    intercepts, coefs = np.empty(len(lambdas)), np.empty((len(lambdas), p))
    prev = lambdas[0]
    for i, lam in enumerate(lambdas):
        grad = np.abs(xs.T @ (y - special.expit(b0 + xs @ b))) / n
        candidates = (b != 0) | (grad >= 2 * lam - prev)
        while True:
            cols = np.flatnonzero(candidates)
            b0, b_sub = _irls(xs[:, cols], y, lam, b0, b[cols], tol, max_irls)
            b = np.zeros(p)
            b[cols] = b_sub
            grad = np.abs(xs.T @ (y - special.expit(b0 + xs @ b))) / n
            violators = ~candidates & (grad > lam * (1 + 1e-6))
            if not violators.any():
                break
            candidates |= violators
        prev = lam
        intercepts[i] = b0 - float(np.sum(b * mean / sd))
        coefs[i] = b / sd
    return intercepts, coefs


def _irls(xs: np.ndarray, y: np.ndarray, lam: float, b0: float, b: np.ndarray, tol: float, max_irls: int) -> tuple[float, np.ndarray]:
    """Penalised IRLS at one lambda from a warm start: (intercept, coefficients) on ``xs``'s scale.
    Converged when no coefficient moves more than ``tol`` times the largest's size (at least 1): nearly
    collinear features can need coefficients in the thousands, whose last digits are rounding noise."""
    if xs.shape[1] == 0:  # no candidate: the intercept-only model
        ybar = y.mean()
        return float(np.log(ybar / (1 - ybar))), b
    for _ in range(max_irls):
        eta = b0 + xs @ b
        mu = special.expit(eta)
        w = np.clip(mu * (1 - mu), 1e-10, None)
        z = eta + (y - mu) / w
        b_new, b0_new = _weighted_lasso(xs, z, w, lam, b)
        change = max(abs(b0_new - b0), float(np.max(np.abs(b_new - b), initial=0.0)))
        b0, b = b0_new, b_new
        if change < tol * max(1.0, abs(b0), float(np.max(np.abs(b), initial=0.0))):
            break
    return b0, b


def _weighted_lasso(xs: np.ndarray, z: np.ndarray, w: np.ndarray, lam: float, b_init: np.ndarray) -> tuple[np.ndarray, float]:
    """glmnet's inner problem ``min (1/2n) sum w (z - b0 - x b)^2 + lam |b|_1``, ``xs`` (n, k): weighted
    centring removes b0, sqrt(w) row scaling removes the weights; then coordinate descent from ``b_init``,
    or LARS-lasso when that has not converged within ``_CD_SWEEPS`` sweeps (see the module's docstring)."""
    wn = w / w.sum()
    x_mean, z_mean = wn @ xs, wn @ z
    root = np.sqrt(w)[:, None]
    xw = np.asfortranarray((xs - x_mean) * root)
    zw = (z - z_mean) * root[:, 0]
    # the inputs are ours and checked: skip scikit-learn's per-call parameter validation (~0.5 ms a call)
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, coef, _, n_sweeps = lasso_path(xw, zw, alphas=np.array([lam]), coef_init=b_init.copy(), check_input=False,
                                          tol=1e-12, max_iter=_CD_SWEEPS, precompute=False, return_n_iter=True)
        b = coef[:, 0]
        if n_sweeps[0] >= _CD_SWEEPS:
            _, _, b = lars_path_gram(Xy=xw.T @ zw, Gram=xw.T @ xw, n_samples=len(zw), alpha_min=lam,
                                     method="lasso", return_path=False)
    return b, float(z_mean - x_mean @ b)


def _deviance(y: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Per-sample binomial deviance -2 log-likelihood, probabilities clipped as glmnet."""
    prob = np.clip(prob, _P_CLIP, 1 - _P_CLIP)
    return -2 * (y * np.log(prob) + (1 - y) * np.log(1 - prob))


class LassoSelector(_Filter):
    """Keep the features with a non-zero coefficient in the cross-validated L1 logistic model.

    Parameters: ``cv`` folds (stratified, shuffled with ``random_state``; or give ``foldid``, (n,)
    fold labels, as glmnet's ``foldid``), ``rule`` "min" (lambda.min) or "1se" (lambda.1se),
    ``n_lambda``, ``lambda_min_ratio`` (None = glmnet's default), ``min_features``: when the chosen
    lambda keeps fewer features, the largest lambda keeping that many is used instead (logged; set 0
    for glmnet's behaviour, which may select nothing).

    Fitted: ``lambdas_`` (L,), ``coef_path_`` (L, p), ``intercept_path_`` (L,), ``cv_mean_``,
    ``cv_se_`` (L,) mean held-out binomial deviance and its SE, ``foldid_`` (n,), ``lambda_min_``,
    ``lambda_1se_``, ``lambda_`` (used), ``coef_`` (p,) and ``intercept_`` at ``lambda_``.
    ``cv_table()`` and ``path_table()`` give the numbers of the usual two LASSO figures.
    """

    def __init__(self, cv: int = 5, rule: Literal["min", "1se"] = "min", random_state: int | None = None,
                 n_lambda: int = 100, lambda_min_ratio: float | None = None, min_features: int = 1,
                 foldid: Any = None):
        self.cv = cv
        self.rule = rule
        self.random_state = random_state
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.min_features = min_features
        self.foldid = foldid

    def _check_params(self, n: int) -> None:
        name = type(self).__name__
        if self.rule not in ("min", "1se"):
            raise EstimatorInputError(name, f"rule must be 'min' or '1se', got {self.rule!r}")
        if not isinstance(self.n_lambda, (int, np.integer)) or self.n_lambda < 2:
            raise EstimatorInputError(name, f"n_lambda must be an integer >= 2, got {self.n_lambda!r}")
        if self.lambda_min_ratio is not None and not 0 < self.lambda_min_ratio < 1:
            raise EstimatorInputError(name, f"lambda_min_ratio must be in (0, 1), got {self.lambda_min_ratio!r}")
        if self.foldid is None and (not isinstance(self.cv, (int, np.integer)) or self.cv < 3):
            raise EstimatorInputError(name, f"cv must be an integer >= 3 (glmnet's minimum), got {self.cv!r}")

    def _folds(self, y: np.ndarray) -> np.ndarray:
        if self.foldid is not None:
            foldid = np.asarray(self.foldid)
            if foldid.shape != y.shape:
                raise EstimatorInputError(type(self).__name__, f"foldid has shape {foldid.shape}, y has {y.shape}")
            if len(np.unique(foldid)) < 3:
                raise EstimatorInputError(type(self).__name__, "foldid needs at least 3 folds")
            return foldid
        if np.bincount(y).min() < self.cv:
            raise EstimatorInputError(type(self).__name__, f"each class needs at least cv={self.cv} samples, got {np.bincount(y).tolist()}")
        foldid = np.empty(len(y), dtype=int)
        splitter = StratifiedKFold(n_splits=int(self.cv), shuffle=True, random_state=self.random_state)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y)):
            foldid[test] = k + 1
        return foldid

    def fit(self, X: Any, y: Any) -> "LassoSelector":
        X, y = check_X_binary_y(self, X, y, min_per_class=3)
        n, p = X.shape
        self._check_params(n)
        ratio = self.lambda_min_ratio if self.lambda_min_ratio is not None else (0.01 if n < p else 1e-4)
        lam_max = logistic_lambda_max(X, y)
        if lam_max == 0:
            raise EstimatorInputError(type(self).__name__, "every feature is constant or uncorrelated with y; nothing to select")
        self.lambdas_ = lam_max * ratio ** (np.arange(self.n_lambda) / (self.n_lambda - 1))
        self.intercept_path_, self.coef_path_ = logistic_lasso_path(X, y, self.lambdas_)

        self.foldid_ = self._folds(y)
        folds = np.unique(self.foldid_)
        fold_dev, fold_w = np.empty((len(folds), self.n_lambda)), np.empty(len(folds))
        for i, k in enumerate(folds):
            train, test = self.foldid_ != k, self.foldid_ == k
            if len(np.unique(y[train])) < 2:
                raise EstimatorInputError(type(self).__name__, f"fold {k}: training part holds one class only")
            b0, b = logistic_lasso_path(X[train], y[train], self.lambdas_)
            prob = special.expit(b0[None, :] + X[test] @ b.T)  # (n_test, L)
            fold_dev[i] = _deviance(y[test][:, None], prob).mean(axis=0)
            fold_w[i] = test.sum()
        self.cv_mean_ = np.average(fold_dev, axis=0, weights=fold_w)
        self.cv_se_ = np.sqrt(np.average((fold_dev - self.cv_mean_) ** 2, axis=0, weights=fold_w) / (len(folds) - 1))

        i_min = int(np.flatnonzero(self.cv_mean_ <= self.cv_mean_.min())[0])  # first = largest lambda
        i_1se = int(np.flatnonzero(self.cv_mean_ <= self.cv_mean_[i_min] + self.cv_se_[i_min])[0])
        self.lambda_min_, self.lambda_1se_ = float(self.lambdas_[i_min]), float(self.lambdas_[i_1se])
        i = i_min if self.rule == "min" else i_1se
        n_nonzero = (self.coef_path_ != 0).sum(axis=1)
        if n_nonzero[i] < self.min_features:
            reachable = np.flatnonzero(n_nonzero >= min(self.min_features, p))
            if len(reachable):
                _log.info("LASSO: lambda.%s keeps %d features; using lambda %.4g (first keeping %d)",
                          self.rule, n_nonzero[i], self.lambdas_[reachable[0]], self.min_features)
                i = int(reachable[0])
        self.lambda_index_ = i
        self.lambda_ = float(self.lambdas_[i])
        self.coef_, self.intercept_ = self.coef_path_[i].copy(), float(self.intercept_path_[i])
        self.support_ = self.coef_ != 0
        return self

    def _names(self) -> list[str]:
        return [str(c) for c in getattr(self, "feature_names_in_", [f"x{j}" for j in range(self.n_features_in_)])]

    def cv_table(self) -> pd.DataFrame:
        """One row per lambda: lambda, log_lambda, cv_mean, cv_low, cv_high (mean -+ SE), n_nonzero."""
        return pd.DataFrame({
            "lambda": self.lambdas_, "log_lambda": np.log(self.lambdas_), "cv_mean": self.cv_mean_,
            "cv_low": self.cv_mean_ - self.cv_se_, "cv_high": self.cv_mean_ + self.cv_se_,
            "n_nonzero": (self.coef_path_ != 0).sum(axis=1),
        })

    def path_table(self) -> pd.DataFrame:
        """Coefficient paths: index log(lambda), one column per feature (original scale)."""
        return pd.DataFrame(self.coef_path_, index=pd.Index(np.log(self.lambdas_), name="log_lambda"), columns=self._names())

    def coef_table(self) -> pd.DataFrame:
        """Chosen model: term ("(Intercept)" first) and coef at ``lambda_``, non-zero terms only."""
        keep = self.support_
        return pd.DataFrame({"term": ["(Intercept)", *np.array(self._names())[keep]], "coef": [self.intercept_, *self.coef_[keep]]})
