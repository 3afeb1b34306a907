"""Univariate and redundancy filters used before LASSO / mRMR (SPEC section 4).

Each is a scikit-learn selector (``SelectorMixin``): ``fit(X, y)`` learns its keep-list from the data
given only, ``transform`` keeps those columns, ``get_feature_names_out`` names them, and with
``set_output(transform="pandas")`` a DataFrame in gives a DataFrame out. ``y`` is the binary outcome
(0/1, or any two labels: the second in sorted order is the event).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from sklearn.base import BaseEstimator
from sklearn.utils import ClassifierTags
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted

from hccrisk.features._validation import EstimatorInputError, check_probability, check_X, check_X_binary_y
from hccrisk.stats import ICC_FORMS, icc_per_feature

__all__ = ["ICCFilter", "UnivariateTestFilter", "CorrelationFilter", "UnivariateLogisticFilter", "univariate_logit_p"]


class _Filter(SelectorMixin, BaseEstimator):
    """Common part: the boolean ``support_`` (n_features_in_,) learnt in ``fit``."""

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # binary outcomes only: estimator checks then give a two-class y (the type stays "transformer")
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags


class ICCFilter(_Filter):
    """Keep features reproducible between two observers: ICC > ``threshold``.

    ``observer1``, ``observer2``: DataFrames (patients x features) of the reproducibility subset, the
    features extracted from each observer's ROI of the same patients (rows matched on the index). The
    ICC (``form``, default ICC2 = two-way random, absolute agreement, single rater, as
    ``psych::ICC``) is computed from these tables, never from ``y``; ``fit(X)`` keeps the columns of
    ``X`` whose ICC exceeds ``threshold`` (NaN, e.g. constant features, is dropped). Columns of ``X``
    are matched by name when ``X`` is a DataFrame, else by position. ``icc_``: the per-feature table
    (icc, low, high, F, df1, df2, p_value) from ``hccrisk.stats.icc_per_feature``.
    """

    def __init__(self, observer1: pd.DataFrame | None = None, observer2: pd.DataFrame | None = None,
                 threshold: float = 0.90, form: str = "ICC2"):
        self.observer1 = observer1
        self.observer2 = observer2
        self.threshold = threshold
        self.form = form

    def fit(self, X: Any, y: Any = None) -> "ICCFilter":
        """Compute the ICC of every column of ``X`` from the observer tables; ``y`` is ignored."""
        X = check_X(self, X, reset=True)
        name = type(self).__name__
        if self.form not in ICC_FORMS:
            raise EstimatorInputError(name, f"form must be one of {ICC_FORMS}, got {self.form!r}")
        if not isinstance(self.threshold, (int, float)) or not -1.0 <= self.threshold < 1.0:
            raise EstimatorInputError(name, f"threshold must be a number in [-1, 1), got {self.threshold!r}")
        tables = []
        for label, obs in (("observer1", self.observer1), ("observer2", self.observer2)):
            if not isinstance(obs, pd.DataFrame):
                raise EstimatorInputError(f"{name}.{label}", "must be a DataFrame (patients x features) of the reproducibility subset")
            if hasattr(self, "feature_names_in_"):
                missing = [c for c in self.feature_names_in_ if c not in obs.columns]
                if missing:
                    raise EstimatorInputError(f"{name}.{label}", f"lacks {len(missing)} feature(s) of X, e.g. {missing[:5]}")
                obs = obs[list(self.feature_names_in_)]
            elif obs.shape[1] != X.shape[1]:
                raise EstimatorInputError(f"{name}.{label}", f"has {obs.shape[1]} features but X has {X.shape[1]} (no names to match)")
            tables.append(obs.set_axis(range(X.shape[1]), axis=1))
        table = icc_per_feature(tables[0], tables[1], form=self.form)
        table.index = pd.Index(getattr(self, "feature_names_in_", np.arange(X.shape[1])), name="feature")
        self.icc_ = table
        self.support_ = np.nan_to_num(table["icc"].to_numpy(), nan=-np.inf) > self.threshold
        return self

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


class UnivariateTestFilter(_Filter):
    """Keep features that differ between the outcome classes: two-sided p < ``p``.

    Per feature the test is chosen by normality: Shapiro-Wilk in each class; when both classes have
    Shapiro p > ``normality_alpha`` Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``, as
    R ``t.test``), otherwise Mann-Whitney U (``scipy.stats.mannwhitneyu``; exact when both classes
    have fewer than 50 samples and the feature has no ties, else the normal approximation with
    continuity correction: R ``wilcox.test``'s rule, as ``hccrisk.stats.baseline_table``).
    Constant features get p = 1. ``pvalues_`` (n_features_in_,), ``tests_`` ("t" or "U").
    """

    def __init__(self, p: float = 0.05, normality_alpha: float = 0.05):
        self.p = p
        self.normality_alpha = normality_alpha

    def fit(self, X: Any, y: Any) -> "UnivariateTestFilter":
        X, y = check_X_binary_y(self, X, y, min_per_class=3)  # Shapiro-Wilk needs 3 per class
        check_probability(self.p, "p", type(self).__name__)
        check_probability(self.normality_alpha, "normality_alpha", type(self).__name__)
        a, b = X[y == 0], X[y == 1]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # constant columns: NaN p values, handled below
            normal = np.ones(X.shape[1], dtype=bool)
            for group in (a, b):
                normal &= np.nan_to_num(stats.shapiro(group, axis=0).pvalue, nan=0.0) > self.normality_alpha
            p_t = stats.ttest_ind(a, b, axis=0, equal_var=False).pvalue
            p_u = _mann_whitney_p(a, b)
        pvalues = np.nan_to_num(np.where(normal, p_t, p_u), nan=1.0)
        pvalues[np.ptp(X, axis=0) == 0] = 1.0
        self.pvalues_ = pvalues
        self.tests_ = np.where(normal, "t", "U")
        self.support_ = pvalues < self.p
        return self


class CorrelationFilter(_Filter):
    """Drop redundant features: of every pair with Pearson |r| > ``threshold`` keep one.

    Rule (greedy, deterministic): features are visited from the strongest to the weakest univariate
    association with ``y`` (|point-biserial r|, i.e. |Pearson r| with the 0/1 outcome; ties by column
    order); a feature is kept unless its |r| with an already kept feature exceeds ``threshold``. So of
    each correlated pair the one with the weaker association is dropped. Without ``y`` the earlier
    column wins. ``association_`` (n_features_in_,), ``dropped_``: {dropped feature: the kept
    feature it duplicates}. Constant features are kept (their r is undefined; other filters drop them).
    """

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def fit(self, X: Any, y: Any = None) -> "CorrelationFilter":
        if y is None:
            X = check_X(self, X, reset=True)
            association = np.zeros(X.shape[1])
        else:
            X, y = check_X_binary_y(self, X, y, min_per_class=1)
            association = np.abs(_corr_with(X, y.astype(float)))
        check_probability(self.threshold, "threshold", type(self).__name__)
        r = np.abs(_corrcoef(X))
        order = np.argsort(-association, kind="stable")
        kept: list[int] = []
        dropped: dict[int, int] = {}
        for j in order:
            partner = next((k for k in kept if r[j, k] > self.threshold), None)
            if partner is None:
                kept.append(j)
            else:
                dropped[j] = partner
        names = getattr(self, "feature_names_in_", np.arange(X.shape[1]))
        self.association_ = association
        self.dropped_ = {names[j]: names[k] for j, k in sorted(dropped.items())}
        self.support_ = np.isin(np.arange(X.shape[1]), kept)
        return self

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


class UnivariateLogisticFilter(_Filter):
    """Keep features whose univariate logistic regression has Wald p < ``p`` (huang2022).

    Each feature alone in ``logit P(y=1) = b0 + b1 x``, fitted by maximum likelihood (as R ``glm``)
    for all features at once; ``pvalues_`` are the Wald p of b1, ``coef_`` the b1 per original unit.
    """

    def __init__(self, p: float = 0.05):
        self.p = p

    def fit(self, X: Any, y: Any) -> "UnivariateLogisticFilter":
        X, y = check_X_binary_y(self, X, y)
        check_probability(self.p, "p", type(self).__name__)
        self.coef_, self.pvalues_ = univariate_logit_p(X, y)
        self.support_ = self.pvalues_ < self.p
        return self


def univariate_logit_p(X: np.ndarray, y: np.ndarray, max_iter: int = 25, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Slope and Wald p of ``logit P(y=1) = b0 + b1 x_j`` for every column j of ``X`` (n, p).

    Newton-Raphson on all columns at once (2x2 information per feature), at most ``max_iter``
    iterations as R ``glm``; constant columns give slope 0 and p = 1. Returns ((p,), (p,)).
    """
    mean, sd = X.mean(axis=0), X.std(axis=0)
    constant = sd == 0
    xs = (X - mean) / np.where(constant, 1.0, sd)  # standardised for stability; Wald z is scale-free
    ybar = y.mean()
    b0 = np.full(X.shape[1], np.log(ybar / (1 - ybar)))
    b1 = np.zeros(X.shape[1])
    for _ in range(max_iter):
        mu = special.expit(b0 + xs * b1)
        w = mu * (1 - mu)
        r = y[:, None] - mu
        g0, g1 = r.sum(axis=0), (xs * r).sum(axis=0)
        h00, h01, h11 = w.sum(axis=0), (w * xs).sum(axis=0), (w * xs * xs).sum(axis=0)
        det = h00 * h11 - h01**2
        det = np.where(det > 0, det, np.inf)
        d0, d1 = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
        b0, b1 = b0 + d0, b1 + d1
        if np.max(np.abs(np.r_[d0, d1])) < tol:
            break
    mu = special.expit(b0 + xs * b1)
    w = mu * (1 - mu)
    h00, h01, h11 = w.sum(axis=0), (w * xs).sum(axis=0), (w * xs * xs).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(h00 / (h00 * h11 - h01**2))
        p = 2 * stats.norm.sf(np.abs(b1 / se))
    p = np.where(constant | ~np.isfinite(p), 1.0, p)
    return np.where(constant, 0.0, b1 / np.where(constant, 1.0, sd)), p


def _mann_whitney_p(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sided Mann-Whitney p of every column (p,), with R ``wilcox.test``'s choice of method."""
    p = stats.mannwhitneyu(a, b, axis=0, alternative="two-sided", method="asymptotic").pvalue
    if len(a) < 50 and len(b) < 50:
        pooled = np.vstack([a, b])
        no_ties = np.array([len(np.unique(col)) == len(col) for col in pooled.T])
        for j in np.flatnonzero(no_ties):
            p[j] = stats.mannwhitneyu(a[:, j], b[:, j], alternative="two-sided", method="exact").pvalue
    return p


def _corrcoef(X: np.ndarray) -> np.ndarray:
    """Pearson r between columns (p, p); pairs involving a constant column get 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.corrcoef(X, rowvar=False) if X.shape[1] > 1 else np.ones((1, 1))
    return np.nan_to_num(np.atleast_2d(r), nan=0.0)


def _corr_with(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pearson r of every column of ``X`` with the vector ``v`` (p,); 0 for constant columns."""
    xc, vc = X - X.mean(axis=0), v - v.mean()
    denom = np.sqrt((xc**2).sum(axis=0) * (vc**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(xc.T @ vc / denom, nan=0.0)
