"""zhao2024's deep-learning arms on the shared synthetic cohort: no signal -> no DL model's validation AUC
lies above chance (the leakage guard, tests/reproduce/chance.py); planted signal -> DLRCR's validation AUC within 0.10 of the true risk's (both
printed). ResNet-10 only (the paper's best depth, and DLRCR's backbone), to keep CI time down; the
command itself trains all three depths."""

from __future__ import annotations

import pytest
import torch

from hccrisk.reproduce.common import ingested_tumour_masks, resolve_paths
from hccrisk.reproduce.zhao2024 import analyse
from hccrisk.reproduce.zhao2024_dl import mri_inputs_for
from tests.reproduce.chance import assert_no_model_beats_chance
from tests.reproduce.conftest import _measured, cohort_table

DL_MODELS = ["ResNet-10", "DL", "DLRCR"]


@pytest.fixture(scope="module")
def dl_inputs(repro_cohort):
    torch.set_num_threads(1)
    paths = resolve_paths(repro_cohort.cohort, repro_cohort.out, repro_cohort.ingest)
    masks, failures = ingested_tumour_masks(paths, list(repro_cohort.observer1.index), "observer1", ("AP",))
    assert not failures
    with _measured("zhao2024 network inputs (AP crops, 32 px)"):
        inputs, failed = mri_inputs_for(paths, masks, 32, progress=False)
    assert failed.empty, failed
    return inputs


def _validation(result):
    perf = result.performance
    return perf[perf.cohort == "validation"].set_index("model")


@pytest.mark.slow  # the shared MRI cohort (conftest.py): ~15 CPU-min set-up + checks, in CI
def test_no_signal_no_dl_model_beats_chance(repro_cohort, dl_inputs):
    """Leakage would push a validation AUC above 0.5: the leakage guard of tests/reproduce/chance.py
    (one-sided permutation test, Bonferroni over the three DL models). Below 0.5 is chance, not a leak
    (default cohort, seed 0: DLRCR 0.242; docs/papers/zhao2024.md)."""
    result = analyse(cohort_table(repro_cohort, 0.0), repro_cohort.observer1, repro_cohort.observer2, seed=0,
                     dl_inputs=dl_inputs, dl_depths=("resnet10",))
    assert_no_model_beats_chance(result.predictions, DL_MODELS)


@pytest.mark.slow
def test_planted_signal_dlrcr_close_to_the_true_risk(repro_cohort, dl_inputs):
    result = analyse(cohort_table(repro_cohort, 1.0), repro_cohort.observer1, repro_cohort.observer2, seed=0,
                     dl_inputs=dl_inputs, dl_depths=("resnet10",))
    val = _validation(result)
    truth = result.true_risk_auc["validation"]
    print(f"\nvalidation AUC: DLRCR {val.loc['DLRCR', 'AUC']:.3f}, ResNet-10 {val.loc['ResNet-10', 'AUC']:.3f}, "
          f"RCR {val['AUC'].get('RCR', float('nan')):.3f}, true risk p_er_2y {truth:.3f}")
    assert abs(val.loc["DLRCR", "AUC"] - truth) <= 0.10
    assert set(result.delong.comparison) >= {"DLRCR vs RCR", "DLRCR vs CR"}
