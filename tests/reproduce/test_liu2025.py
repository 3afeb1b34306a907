"""Science checks of the liu2025 reproduction on a synthetic CEUS cohort (its own fixture: CEUS only, so
synthesis and ingest take about a minute):

- planted signal: CEUS-MP's validation AUC comes within 0.10 of the true 2-year risk's on the same
  validation patients and is not worse than the best single-phase network's by more than 0.05; each
  single-phase network follows its phase's half of the aggressiveness (the generator splits it over the
  phases, docs/synthetic.md). Issue 6's "CEUS-MP beats each single phase" is not asserted: the latent
  ceilings leave room for it (all phases 0.83, one phase 0.74-0.75), but CEUS-MP learns the washout half
  and not the arterial one (Spearman of its prediction with a_ap 0.29, CEUS-AP's 0.74), so it ties
  CEUS-LP: on 108 validation patients (200-patient cohort, 72 training) MP 0.789, LP 0.793, PP 0.758,
  AP 0.727 (docs/papers/liu2025.md, "Science checks");
- signal 0 (same patients and images, outcomes independent of everything): no validation AUC significantly
  above 0.5 (the leakage guard of tests/reproduce/chance.py);
- same seed, same numbers (every table, every prediction).

The networks train with a shortened recipe (``EPOCHS`` below) to keep this file within ~3 CPU-minutes;
``hccrisk reproduce liu2025`` uses ``hccrisk.reproduce.liu2025.EPOCHS``. ``HCCRISK_LIU_DIR`` keeps the
cohort and ingest between sessions; ``HCCRISK_LIU_N`` sets the cohort size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hccrisk.cohort import load_cohort

N_PATIENTS = int(os.environ.get("HCCRISK_LIU_N", "80"))
SEED = 0
EPOCHS, PATIENCE = 15, 6
#: Fold networks per model (the reproduction: hccrisk.reproduce.liu2025.FOLDS = 5): 3 for the planted
#: signal (each fitted on 2/3 of the ~48 training patients), 2 where only leakage or determinism is checked.
FOLDS, CHEAP_FOLDS = 3, 2



def test_recipe_scales_the_paper_milestones():
    from hccrisk.reproduce.liu2025 import recipe

    assert recipe(70).milestones == (15, 30, 55)
    assert recipe(30).milestones == (6, 13, 24)
    cfg = recipe(30, patience=10, seed=3)
    assert (cfg.lr, cfg.momentum, cfg.batch_size, cfg.gamma, cfg.patience, cfg.seed) == (1e-3, 0.9, 16, 0.5, 10, 3)


def test_clinical_table_dichotomises_alb_and_afp_as_the_paper():
    from hccrisk.reproduce.liu2025 import clinical_table

    t = clinical_table(pd.DataFrame({"alb": [34.9, 35.0, np.nan], "afp": [199.0, 200.0, 5000.0]}))
    assert t["alb_low"].tolist()[:2] == [1.0, 0.0] and np.isnan(t["alb_low"].iloc[2])
    assert t["afp_high"].tolist() == [0.0, 1.0, 1.0]


def test_bad_cohort_folder_is_a_clear_error(tmp_path):
    from hccrisk.errors import InputError
    from hccrisk.reproduce import runner
    from hccrisk.reproduce.liu2025 import analyse

    with pytest.raises(InputError, match="not a cohort folder"):
        runner("liu2025")(tmp_path, tmp_path / "out")
    table = pd.DataFrame({"er_2y": [0, 1] * 10}, index=[f"p{i}" for i in range(20)])
    with pytest.raises(InputError, match="only 0 labelled patients have CEUS samples"):
        analyse(table, {})


def test_too_few_patients_of_an_outcome_for_the_folds_is_a_clear_error():
    from hccrisk.errors import InputError
    from hccrisk.reproduce.liu2025 import recipe, train_model

    ids = [f"p{i}" for i in range(10)]
    labels = pd.Series([1, 1] + [0] * 8, index=ids)
    cases = {p: np.zeros((1, 3, 2, 8, 8), np.float32) for p in ids}
    with pytest.raises(InputError, match=r"5-fold early stopping needs >= 5 patients of each outcome; have \[8, 2\]"):
        train_model("ceus_mp", cases, labels, ids, seed=0, config=recipe(epochs=1))


@dataclass(frozen=True)
class LiuCohort:
    cohort: Path
    ingest: Path
    cases: dict


@pytest.fixture(scope="module")
def liu_cohort(tmp_path_factory) -> LiuCohort:
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.reproduce.common import labelled_patients, resolve_paths
    from hccrisk.reproduce.liu2025 import load_cases
    from hccrisk.synth.cohort import generate_cohort

    root = Path(os.environ["HCCRISK_LIU_DIR"]) if "HCCRISK_LIU_DIR" in os.environ else tmp_path_factory.mktemp("liu")
    cohort, ingested = root / "cohort", root / "ingest"
    if not (cohort / "cohort.json").is_file():
        generate_cohort(cohort, N_PATIENTS, SEED, 1.0, "ceus", "default", None, progress=False)
    if not (ingested / "manifest.csv").is_file():
        ingest(cohort / "dicom", ingested, progress=False)
    paths = resolve_paths(cohort, root / "out", ingested)
    cases, failures = load_cases(paths, list(labelled_patients(load_cohort(cohort)).index))
    assert failures.empty, failures
    return LiuCohort(cohort, ingested, cases)


def _table(liu: LiuCohort, signal: float, folder: Path) -> pd.DataFrame:
    """The cohort's table at ``signal`` (the images do not depend on the signal, only the outcomes)."""
    from hccrisk.synth.cohort import cohort_tables

    if signal == 1.0:
        return load_cohort(liu.cohort, with_truth=True)
    meta = json.loads((liu.cohort / "cohort.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in cohort_tables(meta["n_patients"], meta["seed"], signal).items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return load_cohort(folder, with_truth=True)


def _analyse(liu: LiuCohort, table: pd.DataFrame, epochs: int = EPOCHS, workers: int | None = None,
             folds: int = FOLDS):
    from hccrisk.reproduce.liu2025 import analyse, recipe

    torch.set_num_threads(1)
    return analyse(table, liu.cases, seed=SEED, config=recipe(epochs=epochs, patience=PATIENCE, seed=SEED),
                   folds=folds, workers=workers)


def _auc(result, model: str, cohort: str) -> pd.Series:
    perf = result.performance
    return perf[(perf.model == model) & (perf.cohort == cohort)].iloc[0]


@pytest.mark.slow
def test_planted_signal_multiphase_near_the_truth_and_each_phase_sees_its_half(liu_cohort):
    from scipy.stats import spearmanr

    table = _table(liu_cohort, 1.0, Path())
    result = _analyse(liu_cohort, table)
    mp = _auc(result, "CEUS-MP", "validation")["AUC"]
    singles = {m: _auc(result, m, "validation")["AUC"] for m in ("CEUS-AP", "CEUS-PP", "CEUS-LP")}
    truth = result.true_risk_auc["validation"]
    print(f"\nvalidation AUC: CEUS-MP {mp:.3f}, " + ", ".join(f"{m} {a:.3f}" for m, a in singles.items())
          + f"; true risk {truth:.3f}; nomogram "
          + (f"{_auc(result, 'Nomogram', 'validation')['AUC']:.3f}" if result.nomogram is not None else "not fitted"))
    # What each network's prediction follows, over every labelled patient (Spearman).
    preds = result.predictions
    latents = table.loc[preds.index]
    rho = {(m, h): spearmanr(preds[m], latents[col]).statistic
           for m in ("CEUS-MP", *singles)
           for h, col in (("a_ap", "arterial_aggressiveness"), ("a_wo", "washout_aggressiveness"),
                          ("size", "tumour_size_cm"))}
    print(pd.Series(rho).unstack().round(2).to_string())
    assert mp >= truth - 0.10
    assert mp >= max(singles.values()) - 0.05, singles
    # Spearman with a_ap vs a_wo on the 200-patient cohort (3 folds, 40 epochs): AP 0.74 vs 0.19, PP 0.17 vs
    # 0.71, LP 0.22 vs 0.75; CEUS-MP 0.29 vs 0.69.
    assert rho["CEUS-AP", "a_ap"] > rho["CEUS-AP", "a_wo"] + 0.1
    for m in ("CEUS-PP", "CEUS-LP"):
        assert rho[m, "a_wo"] > rho[m, "a_ap"] + 0.1, m


@pytest.mark.slow
def test_signal_zero_no_model_beats_chance(liu_cohort, tmp_path):
    """The leakage guard (tests/reproduce/chance.py): with signal 0 no model's validation AUC lies above
    0.5 (one-sided permutation test, Bonferroni over the models). Not "every CI contains 0.5": a validation
    AUC below 0.5 is chance, not leakage (with 3-fold networks CEUS-LP reached 0.286, CI 0.076-0.495)."""
    from tests.reproduce.chance import assert_no_model_beats_chance

    result = _analyse(liu_cohort, _table(liu_cohort, 0.0, tmp_path / "signal0"), folds=CHEAP_FOLDS)
    models = list(result.performance.loc[result.performance.cohort == "validation", "model"])
    assert len(models) >= 5  # four networks, clinical (+ nomogram when fitted)
    assert_no_model_beats_chance(result.predictions, models)


@pytest.mark.slow
def test_same_seed_same_numbers(liu_cohort):
    table = _table(liu_cohort, 1.0, Path())
    # One run in this process, one on worker processes: the fold networks do not depend on where they train.
    a = _analyse(liu_cohort, table, epochs=2, workers=1, folds=CHEAP_FOLDS)
    b = _analyse(liu_cohort, table, epochs=2, workers=2, folds=CHEAP_FOLDS)
    pd.testing.assert_frame_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.performance, b.performance)
    pd.testing.assert_frame_equal(a.delong, b.delong)
    for name in a.models:
        assert len(a.models[name].nets) == CHEAP_FOLDS
        for net_a, net_b in zip(a.models[name].nets, b.models[name].nets):
            for (k, x), (_, y) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
                assert torch.equal(x, y), (name, k)
    assert not np.allclose(a.predictions["CEUS-MP"], a.predictions["CEUS-AP"])  # different networks
