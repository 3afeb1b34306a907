"""The signal-0 check of the reproduction science checks, as the leakage guard it is.

With ``--signal 0`` every outcome is independent of the images and of the clinical values, so a model can
only look better than chance on validation patients if something learnt from them: a selection, a
scaling or a fit that saw the whole cohort (leakage). Leakage pushes validation AUCs UP, so the guard is
one-sided: no model's validation AUC may lie significantly ABOVE 0.5. An AUC below 0.5 is not leakage:
on 22-36 null validation patients it is chance (zhao2024's RCR 0.250 on the default cohort was one such
draw; docs/papers/zhao2024.md "Science checks" has the measured null distribution).

How "significantly": the k models of a paper are tested at once, each at alpha / k (Bonferroni), so that a
leak-free pipeline fails the guard with probability <= alpha rather than ~k x alpha. Each test is the
permutation test of the validation AUC (the Mann-Whitney U, labels permuted): exact whatever the size,
because without leakage the validation labels are exchangeable given the fitted model. The DeLong bound
is not used: with 6 events among 22 patients its one-sided 0.7 % bound is exceeded ~2 % of the time
under the null (measured), which made a 7-model guard fail ~10 % of leak-free runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

ALPHA = 0.05  #: family-wise: the chance that a leak-free pipeline fails the guard
N_PERMUTATIONS = 20_000  #: Monte-Carlo error of a p-value near 0.007: sd ~0.0006
SEED = 0  #: the permutations are fixed: the same predictions give the same p-values


def auc_above_chance_p(y: np.ndarray, score: np.ndarray, n_permutations: int = N_PERMUTATIONS,
                       seed: int = SEED) -> float:
    """One-sided permutation p-value of AUC(score, y) > 0.5: the share of label permutations (plus the
    observed one) whose rank sum of the positives reaches the observed. y: (n,) 0/1; score: (n,), ties
    get mid-ranks (as the AUC counts them one half)."""
    y = np.asarray(y).astype(bool)
    ranks = rankdata(np.asarray(score, dtype=float))
    observed = ranks[y].sum()
    permuted = np.random.default_rng(seed).permuted(np.tile(y, (n_permutations, 1)), axis=1)
    reached = np.count_nonzero(permuted @ ranks >= observed - 1e-9)
    return (1 + reached) / (1 + n_permutations)


def chance_table(predictions: pd.DataFrame, models: list[str], alpha: float = ALPHA,
                 n_permutations: int = N_PERMUTATIONS) -> pd.DataFrame:
    """One row per model: validation AUC, its one-sided permutation p-value and whether it lies above
    chance at the family-wise ``alpha`` (p < alpha / k for k models).

    ``predictions``: one row per patient with ``cohort`` ("training" / "validation"), ``y`` (0/1) and one
    probability (or score) column per model, as the reproductions' results hold them.
    """
    from hccrisk import stats

    val = predictions[predictions["cohort"] == "validation"]
    y = val["y"].to_numpy().astype(int)
    rows = []
    for model in models:
        score = val[model].to_numpy(dtype=float)
        p = auc_above_chance_p(y, score, n_permutations)
        rows.append({"model": model, "AUC": stats.auc_ci(y, score).auc, "P (AUC > 0.5)": p,
                     "threshold": alpha / len(models), "above chance": p < alpha / len(models)})
    return pd.DataFrame(rows)


def assert_no_model_beats_chance(predictions: pd.DataFrame, models: list[str], alpha: float = ALPHA) -> pd.DataFrame:
    """Print the chance table and fail when a model's validation AUC lies above 0.5 (see the module doc)."""
    table = chance_table(predictions, models, alpha)
    print("\n" + table.round(4).to_string(index=False))
    above = table[table["above chance"]]
    assert above.empty, ("validation AUC above chance with signal 0 (leakage?): "
                         + ", ".join(f"{r.model} {r.AUC:.3f} (P {r['P (AUC > 0.5)']:.4f} < {r.threshold:.4f})"
                                     for _, r in above.iterrows()))
    return table
