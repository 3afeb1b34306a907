"""Clinical model: univariate logistic screening, then a multivariable model (SPEC section 4).

An estimator around ``hccrisk.stats.univariate_then_multivariable_logit`` so the clinical model is
chosen on the training cohort only and applied unchanged to validation.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

from hccrisk.features._validation import EstimatorInputError
from hccrisk.models._logit import _TableLogit

__all__ = ["ClinicalModel", "PAPER_RULES"]

PAPER_RULES: dict[str, dict[str, Any]] = {
    "liu2025": {"p_enter": 0.10, "p_keep": 0.05, "method": "stepwise"},
    "zhao2024": {"p_enter": 0.05, "p_keep": 0.05, "method": "stepwise"},
    "chen2025": {"p_enter": 0.05, "p_keep": 0.05, "method": "stepwise"},
}
"""Univariate entry threshold and multivariable rule of each paper's clinical model."""


class ClinicalModel(_TableLogit):
    """Logistic clinical model chosen by the papers' univariate -> multivariable rule.

    ``fit(X, y)``: ``X`` a DataFrame of clinical variables (numbers, or strings/booleans for
    categories: dummy-coded against the first level in sorted order), ``y`` the binary outcome.
    Each of ``candidates`` (default: every column) is screened alone; those with univariate Wald
    p < ``p_enter`` enter a multivariable model selected by ``method`` ("stepwise", "backward",
    "enter") with removal at p > ``p_keep``. ``missing="median"`` (default): missing values are filled
    with the training median (numeric) or most frequent level (categorical), in training and at
    prediction; ``"complete"``: complete-case fit, and prediction refuses rows missing a selected
    predictor. If nothing is selected the model is intercept-only (the training event rate).

    Fitted: ``selected_`` (variables), ``params_`` (log-odds coefficients incl. ``const``),
    ``selection_`` (``LogitSelection``: univariate and multivariable tables, VIF), ``odds_ratio_table()``.
    """

    def __init__(self, candidates: Sequence[str] | None = None, categorical: Sequence[str] = (),
                 p_enter: float = 0.10, p_keep: float = 0.05,
                 method: Literal["stepwise", "backward", "enter"] = "stepwise",
                 missing: Literal["median", "complete"] = "median"):
        self.candidates = candidates
        self.categorical = categorical
        self.p_enter = p_enter
        self.p_keep = p_keep
        self.method = method
        self.missing = missing

    @classmethod
    def from_paper(cls, paper: str, **params: Any) -> "ClinicalModel":
        """The clinical-model rule of ``paper`` (a key of ``PAPER_RULES``); ``params`` override."""
        if paper not in PAPER_RULES:
            raise EstimatorInputError("paper", f"unknown {paper!r}; known: {sorted(PAPER_RULES)}")
        return cls(**{**PAPER_RULES[paper], **params})

    def fit(self, X: Any, y: Any) -> "ClinicalModel":
        if not hasattr(X, "columns"):
            raise EstimatorInputError(type(self).__name__, f"X must be a DataFrame with named clinical columns, got {type(X).__name__}")
        columns = list(X.columns) if self.candidates is None else list(self.candidates)
        self._fit_selection(X, y, columns, p_enter=self.p_enter, p_keep=self.p_keep, method=self.method)
        return self
