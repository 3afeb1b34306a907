"""The signal-0 leakage guard (tests/reproduce/chance.py): a leak-free pipeline fails it at most about
alpha of the time whatever the number of models, and a leak of the size the classic mistakes make is caught."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scipy.stats import mannwhitneyu

from tests.reproduce.chance import ALPHA, assert_no_model_beats_chance, auc_above_chance_p, chance_table

MODELS = [f"m{i}" for i in range(7)]  # zhao2024's radiomics arm: 5 classifiers, CR, RCR


def _predictions(rng: np.random.Generator, leak: float = 0.0, n_train: int = 88, n_val: int = 22) -> pd.DataFrame:
    """A null cohort split as the reproductions split it (stratified, 44 % events: er_2y at signal 0) and
    7 models' scores: correlated noise (the models share features), plus ``leak`` x the label (what a fit
    that saw the labels adds)."""
    n = n_train + n_val
    y = np.concatenate([rng.permutation(np.arange(m) < round(0.44 * m)) for m in (n_train, n_val)]).astype(int)
    shared = rng.normal(size=n)
    scores = {m: 0.7 * shared + 0.7 * rng.normal(size=n) + leak * y for m in MODELS}
    return pd.DataFrame({"cohort": ["training"] * n_train + ["validation"] * n_val, "y": y, **scores})


def test_null_pipelines_fail_the_guard_at_most_about_alpha_of_the_time():
    rng = np.random.default_rng(0)
    failures = [chance_table(_predictions(rng), MODELS, n_permutations=1000)["above chance"].any()
                for _ in range(150)]
    unadjusted = [chance_table(_predictions(rng), MODELS, ALPHA * len(MODELS), 1000)["above chance"].any()
                  for _ in range(150)]
    # family-wise <= alpha (Bonferroni is conservative for correlated models), up to 150 draws' error
    # (sd 0.018); one 5 % test per model fails several times as often
    assert np.mean(failures) <= ALPHA + 0.03
    assert np.mean(unadjusted) > 2 * np.mean(failures)


def test_a_leak_is_caught():
    rng = np.random.default_rng(1)
    caught = [not chance_table(_predictions(rng, leak=1.5), MODELS, n_permutations=1000)["above chance"].any()
              for _ in range(30)]
    assert np.mean(caught) < 0.2  # validation AUC ~0.85: nearly always above chance


def test_the_assertion_names_the_model_above_chance(capsys):
    preds = _predictions(np.random.default_rng(2))
    preds["leaky"] = preds["y"] * 3.0 + np.random.default_rng(3).normal(size=len(preds))
    with pytest.raises(AssertionError, match="leaky"):
        assert_no_model_beats_chance(preds, MODELS + ["leaky"])
    assert "P (AUC > 0.5)" in capsys.readouterr().out


def test_permutation_p_value_matches_the_exact_mann_whitney_test():
    rng = np.random.default_rng(4)
    for shift in (0.0, 0.5, 1.2):
        y = np.r_[np.ones(6), np.zeros(16)].astype(int)
        score = rng.normal(size=22) + shift * y
        exact = mannwhitneyu(score[y == 1], score[y == 0], alternative="greater", method="exact").pvalue
        # Monte-Carlo: 20000 permutations, sd sqrt(p (1 - p) / 20000) <= 0.0036
        assert auc_above_chance_p(y, score) == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 20000) + 1e-4)
