"""Input checks shared by the binary-outcome figures: {model: (y, score)} split into cohort panels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hccrisk.errors import InputError

Panel = tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]


def as_binary_pair(name: str, y: Any, score: Any, probability: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One model's (outcome, score): rows missing either are dropped; the rest must be 0/1 outcomes
    with both classes and finite scores (in [0, 1] when ``probability``)."""
    y_arr = np.asarray(y, dtype=float).ravel()
    s_arr = np.asarray(score, dtype=float).ravel()
    if y_arr.shape != s_arr.shape:
        raise InputError(name, f"outcome has {y_arr.size} values but score has {s_arr.size}")
    keep = ~np.isnan(y_arr) & ~np.isnan(s_arr)
    y_arr, s_arr = y_arr[keep], s_arr[keep]
    if not np.all(np.isfinite(s_arr)):
        raise InputError(name, "score has infinite values")
    if not np.all(np.isin(y_arr, (0.0, 1.0))):
        raise InputError(name, "outcome must be 0/1")
    if y_arr.size == 0 or y_arr.min() == y_arr.max():
        raise InputError(name, "outcome needs both events (1) and non-events (0)")
    if probability and (s_arr.min() < 0 or s_arr.max() > 1):
        raise InputError(name, f"predicted probabilities must lie in [0, 1]; range is [{s_arr.min():g}, {s_arr.max():g}]")
    return y_arr.astype(int), s_arr


def model_panels(
    models: Mapping[str, tuple[Any, Any]], cohorts: Sequence[Any] | None, where: str, probability: bool = False
) -> list[Panel]:
    """{model: (y, score)} (each (n,), same patients) and per-patient ``cohorts`` labels (n,) ->
    [(cohort, [(model, y, score), ...])] in order of first appearance ("all" when ``cohorts`` is None)."""
    if not models:
        raise InputError(where, "no models given")
    arrays = {}
    for name, pair in models.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(name, "each model needs a (y, score) pair")
        arrays[name] = (np.asarray(pair[0], dtype=float).ravel(), np.asarray(pair[1], dtype=float).ravel())
    n = next(iter(arrays.values()))[0].size
    for name, (y, s) in arrays.items():
        if y.size != n or s.size != n:
            raise InputError(name, f"needs {n} outcomes and scores, like the first model; got {y.size} and {s.size}")
    if cohorts is None:
        masks = [("all", np.ones(n, dtype=bool))]
    else:
        labels = np.asarray(cohorts, dtype=object).ravel()
        if labels.size != n:
            raise InputError(where, f"cohorts has {labels.size} labels for {n} patients")
        masks = [(str(c), labels == c) for c in dict.fromkeys(labels.tolist())]
    return [(cohort, [(name, *as_binary_pair(f"{name} ({cohort})", y[m], s[m], probability))
                      for name, (y, s) in arrays.items()]) for cohort, m in masks]
