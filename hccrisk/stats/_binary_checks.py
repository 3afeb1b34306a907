"""Input checks shared by the binary-outcome statistics (roc, calibration, decision, reclassification).

Every check raises ``StatsInputError`` (an ``InputError`` that is also a ``ValueError``) naming the
argument and what is wrong with it, before any arithmetic runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hccrisk.errors import InputError


class StatsInputError(InputError, ValueError):
    """Bad input to a statistics function: ``where`` is the argument name."""


def as_vector(x: Any, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """``x`` as a 1-D float array; rejects non-numeric values, wrong shapes and (unless allowed) NaN."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(name, f"must be numeric ({exc})") from None
    if arr.ndim != 1:
        raise StatsInputError(name, f"must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise StatsInputError(name, "is empty")
    if not allow_nan and np.isnan(arr).any():
        raise StatsInputError(name, f"has {int(np.isnan(arr).sum())} missing (NaN) values; drop them first")
    if np.isinf(arr).any():
        raise StatsInputError(name, "has infinite values")
    return arr


def as_binary(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as a 0/1 int array holding both classes."""
    arr = as_vector(y, name)
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise StatsInputError(name, f"must be 0/1; found {np.unique(arr[bad])[:5].tolist()}")
    if arr.min() == arr.max():
        raise StatsInputError(name, f"has only one class ({int(arr[0])}); both 0 and 1 are needed")
    return arr.astype(int)


def as_probability(p: Any, name: str = "prob") -> np.ndarray:
    """``p`` as a float array of probabilities in [0, 1]."""
    arr = as_vector(p, name)
    if (arr < 0).any() or (arr > 1).any():
        raise StatsInputError(name, f"must be probabilities in [0, 1]; range is [{arr.min():g}, {arr.max():g}]")
    return arr


def same_length(**arrays: np.ndarray) -> None:
    """Raise unless every array has the same length."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise StatsInputError(", ".join(lengths), f"lengths differ: {lengths}")


def check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise StatsInputError("level", f"must be in (0, 1), got {level}")
    return float(level)
