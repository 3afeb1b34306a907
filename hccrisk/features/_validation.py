"""Input checks shared by the selectors and models: every bad input becomes an ``EstimatorInputError``
naming the estimator (or the column) and the problem, before any arithmetic runs."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from hccrisk.errors import InputError

__all__ = ["EstimatorInputError", "check_X", "check_X_binary_y", "check_probability"]


class EstimatorInputError(InputError, ValueError):
    """Bad input to a selector or model; also a ``ValueError`` as scikit-learn expects."""


def check_X(estimator: Any, X: Any, *, reset: bool) -> np.ndarray:
    """``X`` (n_samples, n_features) as a finite float array; ``reset=True`` in ``fit`` records
    ``n_features_in_`` / ``feature_names_in_``, ``reset=False`` later checks them."""
    if not reset:
        check_is_fitted(estimator)
    try:
        return validate_data(estimator, X, reset=reset, dtype=np.float64)
    except ValueError as exc:
        raise EstimatorInputError(type(estimator).__name__, str(exc)) from None


def check_X_binary_y(estimator: Any, X: Any, y: Any, *, min_per_class: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as in ``check_X(reset=True)`` and ``y`` as a 0/1 int array holding both classes.

    ``y`` may be 0/1 numbers or booleans; any two other labels are mapped in sorted order and stored
    in ``estimator.classes_`` (the second class is the event, as ``LogisticRegression``).
    """
    name = type(estimator).__name__
    if y is None:
        raise EstimatorInputError(name, "requires y to be passed, but the target y is None (give the binary outcome)")
    try:
        X, y = validate_data(estimator, X, y, dtype=np.float64, y_numeric=False)
    except ValueError as exc:
        raise EstimatorInputError(name, str(exc)) from None
    kind = type_of_target(y)
    if kind in ("continuous", "continuous-multioutput"):
        raise EstimatorInputError(name, f"Unknown label type: {kind}; y must be a binary outcome")
    classes = np.unique(y)
    if len(classes) == 1:
        raise EstimatorInputError(name, f"y holds one class only ({classes[0]!r}); a binary outcome needs both")
    if len(classes) != 2:
        raise EstimatorInputError(name, f"Only binary classification is supported: y must hold exactly two classes; got {len(classes)}: {classes[:5]}")
    counts = np.array([(y == c).sum() for c in classes])
    if counts.min() < min_per_class:
        raise EstimatorInputError(name, f"y needs at least {min_per_class} samples per class; got {dict(zip(classes.tolist(), counts.tolist()))}")
    estimator.classes_ = classes
    return X, (y == classes[1]).astype(int)


def check_probability(value: float, name: str, owner: str) -> float:
    """A threshold in (0, 1]."""
    if not (isinstance(value, (int, float, np.floating)) and 0.0 < float(value) <= 1.0):
        raise EstimatorInputError(owner, f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)
