"""Shared test data for the binary-outcome statistics: pROC's aSAH and generated scores with ties."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from tests.stats.rref import run_r


@functools.lru_cache(maxsize=1)
def asah() -> pd.DataFrame:
    """pROC's aSAH data (113 patients): y (1 = poor outcome), s100b, ndka, wfns (1-5, many ties), age."""
    got = run_r(
        'data(aSAH, package = "pROC"); out("y", aSAH$outcome == "Poor"); out("s100b", aSAH$s100b); '
        'out("ndka", aSAH$ndka); out("wfns", as.numeric(aSAH$wfns)); out("age", aSAH$age)'
    )
    return pd.DataFrame({k: got[k] for k in ("y", "s100b", "ndka", "wfns", "age")}).astype({"y": int})


def generated(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """y with ~35 % events, two correlated scores rounded to force ties, and probabilities in (0, 1)."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < 0.35).astype(int)
    latent = rng.normal(size=n) + 1.0 * y
    a = np.round(latent + rng.normal(scale=0.8, size=n), 1)
    b = np.round(0.6 * latent + rng.normal(scale=1.0, size=n), 1)
    p_old = 1 / (1 + np.exp(-(-0.8 + 0.7 * b)))
    p_new = 1 / (1 + np.exp(-(-0.9 + 0.9 * a)))
    return pd.DataFrame({"y": y, "a": a, "b": b, "p_old": np.round(p_old, 3), "p_new": np.round(p_new, 3)})
