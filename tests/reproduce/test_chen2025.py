"""Science checks of the chen2025 reproduction on the shared synthetic MRI cohort (conftest.py):
planted signal -> the best validation AUC lies within 0.10 of the true risk's; signal 0 -> no model's
validation AUC lies above chance (the leakage guard, tests/reproduce/chance.py); same seed -> same numbers, the DenseNet training included.

To fit the CI budget the checks run the pipeline on one sequence (PVP: the paper's Rad score kept only PVP
features) with coarse radiomics (6 mm) and a 1-epoch DenseNet at 64 px; the analysis is the command's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccrisk.reproduce.chen2025 import (ENDPOINT, MODELS, analyse, deep_features, liver_features,
                                        split_patients)
from hccrisk.reproduce.common import labelled_patients, resolve_paths
from tests.reproduce.chance import assert_no_model_beats_chance
from tests.reproduce.conftest import _measured, cohort_table

SEQUENCES = ("PVP",)
SPACING_MM, EPOCHS, SIZE = 6.0, 1, 64


def _tables_cohort(tmp_path: Path) -> pd.DataFrame:
    """The shared cohort's tables (120 patients, seed 0, signal 1) without images: seconds, not an ingest."""
    from hccrisk.cohort import load_cohort
    from hccrisk.synth.cohort import cohort_tables

    for name, df in cohort_tables(120, 0, 1.0).items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    return load_cohort(tmp_path, with_truth=True)


def test_analysis_on_feature_tables_fits_on_training_only(tmp_path):
    """Features made from the truth (radiomics: the latent aggressiveness + noise; deep: noise) -> every
    table of the report, the split disjoint, the Rad score informative, the DL score not."""
    cohort = _tables_cohort(tmp_path)
    rng = np.random.default_rng(0)
    n = len(cohort)
    signal = cohort["aggressiveness"].to_numpy()[:, None]
    radiomics = pd.DataFrame(np.hstack([signal + rng.normal(size=(n, 5)), rng.normal(size=(n, 40))]), index=cohort.index,
                             columns=[f"{s}_original_firstorder_f{j}" for s in ("PVP", "AP", "T2") for j in range(15)])
    deep = pd.DataFrame(rng.normal(size=(n, 4 * 30)), index=cohort.index,
                        columns=[f"{s}_dl{j:04d}" for s in ("T2", "AP", "PVP", "DP") for j in range(30)])
    result = analyse(cohort, radiomics, deep, seed=0)
    train, val = split_patients(cohort, seed=0)
    assert not set(train) & set(val) and len(train) == round(0.7 * (len(train) + len(val)))
    preds = result.predictions
    assert set(preds.index[preds.cohort == "training"]) == set(train)
    perf = result.performance.set_index(["model", "cohort"])
    assert {m for m, _ in perf.index} == set(MODELS)
    assert perf.loc[("Rad score", "validation"), "AUC"] > 0.65
    dl = perf.loc[("DL score", "validation")]
    assert dl["AUC low"] <= 0.5 <= dl["AUC high"]
    assert {"PPV", "NPV", "sensitivity", "specificity", "accuracy"} <= set(perf.columns)
    assert result.rad_counts.features.iloc[0] == 45 and len(result.rad_coefficients) >= 1
    assert result.dl_counts.features.tolist()[:2] == [120, 40]
    assert len(result.delong) == 2 * 3 and list(result.nomogram_vif.columns) == ["term", "vif"]


def test_too_few_patients_with_features_is_a_clear_error(tmp_path):
    from hccrisk.errors import InputError

    cohort = _tables_cohort(tmp_path)
    few = pd.DataFrame(np.zeros((10, 2)), index=cohort.index[:10], columns=["PVP_a", "PVP_b"])
    with pytest.raises(InputError, match="need >= 20"):
        analyse(cohort, few, few.rename(columns=lambda c: c.replace("PVP_", "PVP_dl")), seed=0)


@pytest.fixture(scope="module")
def chen(repro_cohort):
    """(paths, radiomics, network inputs) of every labelled patient, computed once (cached in the work folder)."""
    import torch

    torch.set_num_threads(1)
    # the shared work folder: masks and radiomics cache reusable across papers and sessions
    paths = resolve_paths(repro_cohort.cohort, repro_cohort.out, repro_cohort.ingest)
    ids = list(labelled_patients(cohort_table(repro_cohort, 1.0), ENDPOINT).index)
    with _measured(f"chen2025 liver masks + {SIZE} px slices + {'/'.join(SEQUENCES)} radiomics at {SPACING_MM:g} mm"):
        radiomics, inputs, failures, _ = liver_features(paths, ids, None, SPACING_MM, SIZE, SEQUENCES)
    assert failures.empty, failures
    return paths, radiomics, inputs


def _analyse(repro_cohort, chen, signal: float, work: Path | None = None):
    paths, radiomics, inputs = chen
    cohort = cohort_table(repro_cohort, signal)
    train, _ = split_patients(cohort, seed=0)
    deep, _ = deep_features(inputs, cohort[ENDPOINT], train, work or paths.work, seed=0, epochs=EPOCHS,
                            sequences=SEQUENCES)
    return analyse(cohort, radiomics, deep, seed=0), deep


@pytest.fixture(scope="module")
def planted(repro_cohort, chen):
    """(result, deep features) of the signal-1 analysis (DenseNet from the work folder's cache, else trained
    there): the planted-signal check reads it, and the same-seed check compares a fresh run with it."""
    return _analyse(repro_cohort, chen, 1.0)


def _validation(result) -> pd.DataFrame:
    perf = result.performance
    return perf[perf.cohort == "validation"].set_index("model")


@pytest.mark.slow  # the shared MRI cohort (conftest.py): ~15 CPU-min set-up + checks, in CI
def test_planted_signal_best_model_approaches_the_true_risk(planted):
    result, _ = planted
    val = _validation(result)
    best = val["AUC"].max()
    truth = result.true_risk_auc["validation"]
    print(f"\nchen2025 validation AUC: {val['AUC'].round(3).to_dict()}; best {best:.3f} ({val['AUC'].idxmax()}), "
          f"true risk p_er_6m {truth:.3f}; notes: {result.notes}")
    assert set(MODELS) - {"Nomogram"} <= set(val.index)
    assert abs(best - truth) <= 0.10


@pytest.mark.slow
def test_signal_zero_no_model_beats_chance(repro_cohort, chen):
    """The leakage guard (tests/reproduce/chance.py): one-sided permutation test per model, Bonferroni over
    the models; a below-chance AUC is chance, not leakage."""
    result, _ = _analyse(repro_cohort, chen, 0.0)
    models = list(_validation(result).index)
    assert len(models) >= 3
    assert_no_model_beats_chance(result.predictions, models)


@pytest.mark.slow  # the shared MRI cohort (conftest.py): ~15 CPU-min set-up + checks, in CI
def test_same_seed_same_numbers(repro_cohort, chen, planted, tmp_path):
    # every seeded step again: the DenseNet trained afresh (an empty work folder: nothing cached), every
    # patient's deep features from it and the whole analysis, compared with the planted-signal run's
    first, deep_first = planted
    again, deep_again = _analyse(repro_cohort, chen, 1.0, work=tmp_path)
    pd.testing.assert_frame_equal(deep_first, deep_again)
    for name in ("performance", "delong", "rad_coefficients", "dl_coefficients", "clinical_multivariable"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name), obj=name)
    pd.testing.assert_frame_equal(first.predictions, again.predictions)
