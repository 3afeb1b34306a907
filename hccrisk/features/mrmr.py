"""mRMR feature selection (huang2022: 898 -> 8 features), as the ``mrmr-selection`` package's default.

Relevance: the ANOVA F-statistic of each feature against the class (``f_classif``). Redundancy:
|Pearson r| with each already selected feature, floored at 0.001. Score of a candidate = relevance /
mean redundancy (the quotient form, MIQ; a mean |r| of exactly 1 scores 0). The first feature is the
most relevant one; ties go to the earlier column, so the result is deterministic.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.feature_selection import f_classif

from hccrisk.features._validation import EstimatorInputError, check_X_binary_y
from hccrisk.features.filters import _corrcoef, _Filter

__all__ = ["MRMRSelector", "mrmr_order"]

_FLOOR = 0.001  # mrmr-selection's floor on |r|, so an uncorrelated candidate does not divide by 0


def mrmr_order(relevance: np.ndarray, abs_corr: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` features picked in order and each one's score at its pick.

    ``relevance`` (p,), ``abs_corr`` (p, p) |Pearson r| between features.
    """
    p = len(relevance)
    redundancy_sum = np.zeros(p)
    selected: list[int] = []
    scores: list[float] = []
    free = np.ones(p, dtype=bool)
    for step in range(k):
        if step == 0:
            score = relevance.astype(float).copy()
        else:
            mean_red = redundancy_sum / step
            with np.errstate(divide="ignore"):
                score = np.where(mean_red >= 1.0, 0.0, relevance / mean_red)
        score = np.where(free, score, -np.inf)
        best = int(np.argmax(score))  # argmax returns the first maximum: ties to the earlier column
        selected.append(best)
        scores.append(float(score[best]))
        free[best] = False
        redundancy_sum += np.clip(abs_corr[:, best], _FLOOR, None)
    return np.array(selected, dtype=int), np.array(scores)


class MRMRSelector(_Filter):
    """Keep the ``k`` features chosen by mRMR (MIQ, F-statistic relevance / Pearson redundancy).

    ``ranking_``: column indices in the order picked; ``scores_``: each one's mRMR score when picked;
    ``relevance_``: F-statistic of every feature (constant features 0). When ``k`` exceeds the number
    of features all are kept, with a warning.
    """

    def __init__(self, k: int = 8):
        self.k = k

    def fit(self, X: Any, y: Any) -> "MRMRSelector":
        X, y = check_X_binary_y(self, X, y)
        if not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise EstimatorInputError(type(self).__name__, f"k must be a positive integer, got {self.k!r}")
        k = int(self.k)
        if k > X.shape[1]:
            warnings.warn(f"MRMRSelector: k={k} exceeds the {X.shape[1]} features; keeping all", UserWarning, stacklevel=2)
            k = X.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant features: F undefined, set to 0 below
            relevance = np.nan_to_num(f_classif(X, y)[0], nan=0.0, posinf=np.finfo(float).max)
        self.relevance_ = relevance
        self.ranking_, self.scores_ = mrmr_order(relevance, np.abs(_corrcoef(X)), k)
        self.support_ = np.isin(np.arange(X.shape[1]), self.ranking_)
        return self
