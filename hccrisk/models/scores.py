"""Rad score / DL score: the linear predictor of an unpenalised logistic regression on the selected
features (SPEC section 4), with its formula exportable as a table."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils import ClassifierTags
from sklearn.utils.validation import check_is_fitted
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError, PerfectSeparationWarning

from hccrisk.features._validation import EstimatorInputError, check_X, check_X_binary_y
from hccrisk.models._logit import LogisticPredictions

__all__ = ["LinearScore"]


class LinearScore(LogisticPredictions, ClassifierMixin, TransformerMixin, BaseEstimator):
    """``score = intercept + sum(coef_j * x_j)``: logistic regression fitted by maximum likelihood
    (statsmodels ``Logit``, Newton; the same coefficients as R ``glm(family=binomial)``).

    As a transformer it outputs one column named ``name`` (e.g. "rad_score", "dl_score") to feed a
    ``NomogramModel``; as a classifier ``predict_proba`` gives expit(score). ``coef_`` (p,),
    ``intercept_``, ``se_`` (p + 1,) (intercept first); ``formula_table()`` / ``formula()`` export it.
    Perfect separation (common with many features and few patients) raises a clear error: select
    fewer features first.
    """

    def __init__(self, name: str = "score"):
        self.name = name

    def fit(self, X: Any, y: Any) -> "LinearScore":
        X, y01 = check_X_binary_y(self, X, y, min_per_class=1)
        design = np.column_stack([np.ones(len(X)), X])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PerfectSeparationWarning)
                warnings.simplefilter("error", ConvergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                res = sm.Logit(y01, design).fit(disp=0, method="newton", maxiter=100, tol=1e-10)
        except (PerfectSeparationError, PerfectSeparationWarning, ConvergenceWarning, np.linalg.LinAlgError) as exc:
            raise EstimatorInputError(type(self).__name__, f"logistic model on {X.shape[1]} features cannot be fitted "
                                      f"({type(exc).__name__}: {exc}); select fewer features") from None
        self.intercept_ = float(res.params[0])
        self.coef_ = np.asarray(res.params[1:], dtype=float)
        self.se_ = np.asarray(res.bse, dtype=float)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The score (n,): log-odds of the event."""
        X = check_X(self, X, reset=False)
        return self.intercept_ + X @ self.coef_

    def transform(self, X: Any) -> np.ndarray:
        """The score as one column (n, 1), named by ``get_feature_names_out``."""
        return self.decision_function(X)[:, None]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.array([self.name], dtype=object)

    def _input_names(self) -> list[str]:
        return [str(c) for c in getattr(self, "feature_names_in_", [f"x{j}" for j in range(self.n_features_in_)])]

    def formula_table(self) -> pd.DataFrame:
        """term ("(Intercept)" first) and coef, se: the score's formula as a table."""
        check_is_fitted(self, "coef_")
        return pd.DataFrame({"term": ["(Intercept)", *self._input_names()], "coef": [self.intercept_, *self.coef_], "se": self.se_})

    def formula(self, digits: int = 4) -> str:
        """The formula as text, e.g. ``rad_score = -0.1234 + 0.5678 * wavelet_glcm_Idm - ...``."""
        check_is_fitted(self, "coef_")
        parts = [f"{self.intercept_:.{digits}f}"]
        parts += [f"{'-' if c < 0 else '+'} {abs(c):.{digits}f} * {n}" for c, n in zip(self.coef_, self._input_names())]
        return f"{self.name} = " + " ".join(parts)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
