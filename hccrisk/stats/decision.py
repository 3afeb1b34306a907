"""Decision curve analysis (Vickers & Elkin, Med Decis Making 2006), as R ``dcurves::dca`` for a binary outcome.

Net benefit at threshold probability pt: NB = TP/n - FP/n * pt / (1 - pt), a patient being treated when
``prob >= pt``. Treat-all: NB = prevalence - (1 - prevalence) * pt / (1 - pt); treat-none: 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hccrisk.stats._binary_checks import StatsInputError, as_binary, as_probability, as_vector, same_length

__all__ = ["net_benefit"]


def net_benefit(y: Any, prob: Any, thresholds: Any = None) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none at each threshold probability.

    ``y`` (n,) 0/1, ``prob`` (n,) predicted probabilities, ``thresholds`` (k,) in [0, 1) (default
    0.00, 0.01, ..., 0.99). Returns one row per threshold: ``threshold``, ``net_benefit`` (model),
    ``treat_all``, ``treat_none``, ``tp``, ``fp`` (counts at ``prob >= threshold``), ``n``.
    """
    y = as_binary(y)
    p = as_probability(prob)
    same_length(y=y, prob=p)
    pt = np.round(np.arange(0, 1, 0.01), 2) if thresholds is None else as_vector(thresholds, "thresholds")
    if (pt < 0).any() or (pt >= 1).any():
        raise StatsInputError("thresholds", "must lie in [0, 1) (the odds pt / (1 - pt) is infinite at 1)")
    n = len(y)
    treated = p[None, :] >= pt[:, None]  # (k, n)
    tp = (treated & (y == 1)).sum(axis=1)
    fp = (treated & (y == 0)).sum(axis=1)
    odds = pt / (1 - pt)
    prevalence = y.mean()
    return pd.DataFrame(
        {
            "threshold": pt,
            "net_benefit": tp / n - fp / n * odds,
            "treat_all": prevalence - (1 - prevalence) * odds,
            "treat_none": np.zeros_like(pt),
            "tp": tp,
            "fp": fp,
            "n": n,
        }
    )
