"""Generated data with a known signal, shared by the selector and model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

INFORMATIVE = [f"signal_{j}" for j in range(5)]
BETA = np.array([1.0, -1.0, 0.8, -0.8, 0.6])


def signal_data(n: int = 300, n_noise: int = 500, seed: int = 0, signal: bool = True) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(X, y, true linear predictor): ``n_noise`` standard-normal noise features plus the five
    ``INFORMATIVE`` ones (true logit = X[INFORMATIVE] @ BETA, or 0 when ``signal`` is False)."""
    rng = np.random.default_rng(seed)
    informative = rng.normal(size=(n, len(INFORMATIVE)))
    noise = rng.normal(size=(n, n_noise))
    X = pd.DataFrame(np.hstack([noise, informative]), columns=[f"noise_{j}" for j in range(n_noise)] + INFORMATIVE)
    X = X.sample(frac=1.0, axis=1, random_state=seed)  # informative columns are not at the end
    lp = informative @ BETA if signal else np.zeros(n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    return X, y, lp
