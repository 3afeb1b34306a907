"""Shared machinery of the logistic models fitted on a table (clinical model, nomogram model):
DataFrame checks, missing-value handling learnt on training, dummy coding with the training levels
(named ``variable[level]`` against the first level, as ``hccrisk.stats.regression`` and R), and
prediction from the fitted coefficients."""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import special
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from hccrisk.features._validation import EstimatorInputError
from hccrisk.stats import LogitSelection, univariate_then_multivariable_logit

_OUTCOME = "__outcome__"


def _is_categorical(col: pd.Series, declared: set[str]) -> bool:
    return col.name in declared or not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)


def _sorted_levels(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


class LogisticPredictions:
    """``predict_proba`` and ``predict`` of a model whose ``decision_function`` is the log-odds of the
    event ``classes_[1]`` (shared by the table-based logistic models and ``LinearScore``)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, 2): probabilities of ``classes_[0]`` and of the event ``classes_[1]``."""
        p = special.expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Class at probability 0.5."""
        positive = self.decision_function(X) > 0  # first: raises NotFittedError before fit
        return self.classes_[positive.astype(int)]


class _TableLogit(LogisticPredictions, ClassifierMixin, BaseEstimator):
    """Base: a logistic model on named columns of a DataFrame. Subclasses define ``_select``."""

    missing: Literal["median", "complete"]
    categorical: Sequence[str]

    # ----- input -------------------------------------------------------------------------------
    def _frame(self, X: Any, columns: Sequence[str]) -> pd.DataFrame:
        name = type(self).__name__
        if not isinstance(X, pd.DataFrame):
            raise EstimatorInputError(name, f"X must be a DataFrame with named clinical columns, got {type(X).__name__}")
        absent = [c for c in columns if c not in X.columns]
        if absent:
            raise EstimatorInputError(name, f"X lacks column(s) {absent}")
        return X[list(columns)].copy()

    def _outcome(self, y: Any, n: int) -> np.ndarray:
        name = type(self).__name__
        y = pd.Series(np.asarray(y)).reset_index(drop=True)
        if len(y) != n:
            raise EstimatorInputError(name, f"y has {len(y)} values but X has {n} rows")
        if y.isna().any():
            raise EstimatorInputError(name, f"y has {int(y.isna().sum())} missing outcomes; drop those patients first")
        classes = np.array(_sorted_levels(y.unique()))
        if len(classes) != 2:
            raise EstimatorInputError(name, f"y must hold exactly two classes, got {classes.tolist()[:5]}")
        self.classes_ = classes
        return (y == classes[1]).astype(int).to_numpy()

    def _learn_fill(self, df: pd.DataFrame) -> None:
        """Training medians (numeric) / most frequent levels (categorical) and the training levels."""
        declared = set(self.categorical)
        self.fill_values_, self.levels_ = {}, {}
        for c in df.columns:
            col = df[c]
            if col.notna().sum() == 0:
                raise EstimatorInputError(type(self).__name__, f"column {c!r} has no values in the training data")
            if _is_categorical(col, declared):
                self.levels_[c] = _sorted_levels(col.dropna().unique())
                counts = col.value_counts()
                self.fill_values_[c] = _sorted_levels(counts.index[counts == counts.max()])[0]
            else:
                self.fill_values_[c] = float(col.median())

    def _fill(self, df: pd.DataFrame, where: str) -> pd.DataFrame:
        for c, levels in self.levels_.items():
            if c not in df.columns:
                continue
            unknown = set(df[c].dropna().unique()) - set(levels)
            if unknown:
                raise EstimatorInputError(f"{where} column {c!r}", f"level(s) {sorted(map(str, unknown))} not seen in training {levels}")
        if self.missing == "median":
            return df.fillna({c: v for c, v in self.fill_values_.items() if c in df.columns})
        return df

    def _check_missing_param(self) -> None:
        if self.missing not in ("median", "complete"):
            raise EstimatorInputError(type(self).__name__, f"missing must be 'median' or 'complete', got {self.missing!r}")

    # ----- fit / predict -----------------------------------------------------------------------
    def _fit_selection(self, X: Any, y: Any, columns: Sequence[str], **selection: Any) -> None:
        self._check_missing_param()
        df = self._frame(X, columns)
        self.feature_names_in_ = np.array(columns, dtype=object)
        self.n_features_in_ = len(columns)
        y01 = self._outcome(y, len(df))
        self._learn_fill(df)
        data = self._fill(df, "training").reset_index(drop=True)
        data[_OUTCOME] = y01
        cat = [c for c in columns if c in self.levels_]
        self.selection_: LogitSelection = univariate_then_multivariable_logit(data, _OUTCOME, list(columns), categorical=cat, **selection)
        if self.selection_.model is None:  # nothing selected: the intercept-only model (prevalence)
            self.params_ = pd.Series({"const": float(special.logit(y01.mean()))})
        else:
            self.params_ = self.selection_.model.params.copy()
        self.selected_ = tuple(self.selection_.selected)

    def decision_function(self, X: Any) -> np.ndarray:
        """Linear predictor (log-odds of the event) (n,) from the selected predictors."""
        check_is_fitted(self, "params_")
        df = self._fill(self._frame(X, self.selected_), "X")
        if df.isna().any().any():
            bad = df.columns[df.isna().any()].tolist()
            raise EstimatorInputError(type(self).__name__, f"missing values in {bad} (missing='complete' cannot predict them)")
        lp = np.full(len(df), float(self.params_["const"]))
        for term, beta in self.params_.drop("const").items():
            lp += beta * self._term_values(df, str(term))
        return lp

    def _term_values(self, df: pd.DataFrame, term: str) -> np.ndarray:
        if term in df.columns:
            return df[term].to_numpy(dtype=float)
        var, level = self._dummies()[term]
        return (df[var] == level).to_numpy(dtype=float)

    def _dummies(self) -> dict[str, tuple[str, Any]]:
        """Dummy term name -> (variable, level), as ``hccrisk.stats.regression`` names them."""
        return {f"{v}[{lev}]": (v, lev) for v, levels in self.levels_.items() for lev in levels[1:]}

    def odds_ratio_table(self) -> pd.DataFrame:
        """Final model: term, coef, se, OR, low, high (Wald 95% CI), z, p_value, joined with VIF."""
        check_is_fitted(self, "params_")
        return self.selection_.multivariable.merge(self.selection_.vif, on="term", how="left")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "params_")
        return np.array(self.selected_, dtype=object)
