"""Nomogram model: logistic regression on scores (Rad score, DL score) plus clinical predictors, all
entered (SPEC section 4), exposing what ``hccrisk.report.figures.Nomogram.from_logistic`` needs.
A fitted model is saved beside a bundle for the deploy app by ``hccrisk.models.nomogram_file``."""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
from sklearn.utils.validation import check_is_fitted

from hccrisk.features._validation import EstimatorInputError
from hccrisk.models._logit import _TableLogit

__all__ = ["NomogramModel"]


class NomogramModel(_TableLogit):
    """Logistic model ``logit P = intercept + sum beta x`` on ``predictors`` (default every column),
    fitted by maximum likelihood (as R ``glm`` / ``rms::lrm``) with all predictors entered.

    Categorical predictors (declared in ``categorical``, or non-numeric) are dummy-coded against
    their first level. ``missing`` as ``ClinicalModel``. Fitted: ``params_``, ``intercept_``,
    ``nomogram_coefs_`` ({predictor: beta} or {predictor: {level: beta}} with the reference level at
    0.0), ``ranges_`` ({continuous predictor: (training min, training max)}); ``to_nomogram()``.
    """

    def __init__(self, predictors: Sequence[str] | None = None, categorical: Sequence[str] = (),
                 missing: Literal["median", "complete"] = "complete"):
        self.predictors = predictors
        self.categorical = categorical
        self.missing = missing

    def fit(self, X: Any, y: Any) -> "NomogramModel":
        if not hasattr(X, "columns"):
            raise EstimatorInputError(type(self).__name__, f"X must be a DataFrame with named predictors, got {type(X).__name__}")
        columns = list(X.columns) if self.predictors is None else list(self.predictors)
        self._fit_selection(X, y, columns, p_enter=np.inf, method="enter")
        if self.selection_.model is None:
            raise EstimatorInputError(type(self).__name__, "the logistic model could not be fitted")
        dropped = [c for c in columns if c not in self.selection_.selected]
        if dropped:  # a predictor whose own fit failed (e.g. perfect separation): say which and why
            uni = self.selection_.univariate.set_index("variable")
            why = "; ".join(f"{c}: {uni.loc[c, 'note'] if c in uni.index else 'not fitted'}"
                            for c in dropped)
            raise EstimatorInputError(type(self).__name__, f"predictor(s) could not enter the model ({why})")
        self.intercept_ = float(self.params_["const"])
        self.nomogram_coefs_: dict[str, Any] = {}
        self.ranges_: dict[str, tuple[float, float]] = {}
        data = self._fill(self._frame(X, columns), "training")
        for c in columns:
            if c in self.levels_:
                self.nomogram_coefs_[c] = {str(lev): float(self.params_.get(f"{c}[{lev}]", 0.0)) for lev in self.levels_[c]}
            else:
                self.nomogram_coefs_[c] = float(self.params_[c])
                self.ranges_[c] = (float(data[c].min()), float(data[c].max()))
        return self

    def to_nomogram(self) -> Any:
        """The ``hccrisk.report.figures.Nomogram`` of this model (axes over the training ranges)."""
        check_is_fitted(self, "params_")
        from hccrisk.report.figures import Nomogram  # matplotlib only when a nomogram is wanted

        return Nomogram.from_logistic(self.nomogram_coefs_, self.intercept_, self.ranges_)
