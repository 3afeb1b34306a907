"""Science checks of the liu2025 reproduction on a synthetic CEUS cohort (its own fixture: CEUS only, so
synthesis and ingest take about a minute):

- planted signal (issue 6's claim): the networks train on the 80-patient cohort's training part (48 patients,
  the paper's 75:40 share) and are judged on its validation patients plus 220 more patients of the same
  seed that no analysis sees: CEUS-MP's AUC beats each single-phase network's and comes within 0.10 of the
  true 2-year risk's; each single-phase network follows its phase's half of the aggressiveness (the
  generator splits it over the phases, docs/synthetic.md). Only ~30 validation patients (AUC SE ~0.09)
  cannot rank models whose true gaps are a few hundredths; measured gaps and what was tried to widen them
  are in docs/papers/liu2025.md, "Science checks";
- signal 0 (same patients and images, outcomes independent of everything): no validation AUC significantly
  above 0.5 (the leakage guard of tests/reproduce/chance.py);
- same seed, same numbers (every table, every prediction).

The networks train with a shortened recipe (``EPOCHS`` below): the file took 5.5 min in a clean-clone CI
run on 2 idle cores (fixture 68 s, planted 142 s, signal 0 72 s, same seed 45 s);
``hccrisk reproduce liu2025`` uses ``hccrisk.reproduce.liu2025.EPOCHS``. ``HCCRISK_LIU_DIR`` keeps the
cohort and ingest between sessions; ``HCCRISK_LIU_N`` sets the analysed cohort's size and
``HCCRISK_LIU_EXTRA`` the extra validation patients'.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from hccrisk.cohort import load_cohort
from tests.scratch import scratch_folder

N_PATIENTS = int(os.environ.get("HCCRISK_LIU_N", "80"))
#: Patients N_PATIENTS + 1 .. N_PATIENTS + N_EXTRA of the same seed: validation only (the planted check), never
#: in an analysis. ~30 validation patients of the 80 give an AUC SE ~0.09, far too coarse to rank four models
#: whose true gaps are ~0.02-0.05; with ~250 it is ~0.03 (docs/papers/liu2025.md, "Science checks").
N_EXTRA = int(os.environ.get("HCCRISK_LIU_EXTRA", "220"))
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
    cases: dict  #: CEUS samples of every labelled patient, the extra validation patients included
    analysed: list  #: the first N_PATIENTS patients: the cohort every analysis here runs on


@pytest.fixture(scope="module")
def liu_cohort(request, tmp_path_factory) -> Iterator[LiuCohort]:
    with scratch_folder(request, tmp_path_factory, "liu", "HCCRISK_LIU_DIR") as root:
        liu = _liu_cohort(root)
        if "HCCRISK_LIU_DIR" not in os.environ:
            # The checks read the cases (in memory) and the tables only: free the 4.6 GB of DICOM and ingest now.
            shutil.rmtree(liu.cohort / "dicom")
            shutil.rmtree(liu.ingest)
        yield liu


def _liu_cohort(root: Path) -> LiuCohort:
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.reproduce.common import labelled_patients, resolve_paths
    from hccrisk.reproduce.liu2025 import load_cases
    from hccrisk.synth.cohort import generate_cohort

    cohort, ingested = root / "cohort", root / "ingest"
    if not (cohort / "cohort.json").is_file():
        generate_cohort(cohort, N_PATIENTS + N_EXTRA, SEED, 1.0, "ceus", "default", None, progress=False)
    made = json.loads((cohort / "cohort.json").read_text())
    assert (made["n_patients"], made["seed"]) == (N_PATIENTS + N_EXTRA, SEED), \
        f"{cohort} holds {made['n_patients']} patients of seed {made['seed']}; expected {N_PATIENTS + N_EXTRA} of {SEED}"
    if not (ingested / "manifest.csv").is_file():
        ingest(cohort / "dicom", ingested, progress=False)
    paths = resolve_paths(cohort, root / "out", ingested)
    cases, failures = load_cases(paths, list(labelled_patients(load_cohort(cohort)).index))
    assert failures.empty, failures
    # A patient's data depend on the seed and its number only, so the first N_PATIENTS are the N_PATIENTS-cohort.
    analysed = list(load_cohort(cohort).index[:N_PATIENTS])
    return LiuCohort(cohort, ingested, cases, analysed)


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
    return analyse(table.loc[liu.analysed], liu.cases, seed=SEED,
                   config=recipe(epochs=epochs, patience=PATIENCE, seed=SEED),
                   folds=folds, workers=workers)


def _auc(result, model: str, cohort: str) -> pd.Series:
    perf = result.performance
    return perf[(perf.model == model) & (perf.cohort == cohort)].iloc[0]


def _validation_with_extra(liu: LiuCohort, table: pd.DataFrame, result) -> pd.DataFrame:
    """Every model's probability and the true risk on the analysis's validation patients plus the extra
    patients (never seen by the analysis): one row per patient, columns y, true_risk, the four networks."""
    from hccrisk.reproduce.common import labelled_patients
    from hccrisk.reproduce.liu2025 import MODELS, predict_model

    preds = result.predictions
    val = list(preds.index[preds.cohort == "validation"])
    extra = [p for p in labelled_patients(table).index if p not in liu.analysed and p in liu.cases]
    out = pd.DataFrame({"y": table.loc[val + extra, "er_2y"], "true_risk": table.loc[val + extra, "p_er_2y"]})
    for label in MODELS:
        out[label] = pd.concat([preds.loc[val, label],
                                predict_model(result.models[label], {p: liu.cases[p] for p in extra})])
    return out


@pytest.mark.slow
def test_planted_signal_multiphase_beats_each_phase_near_the_truth_and_each_phase_sees_its_half(liu_cohort):
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    table = _table(liu_cohort, 1.0, Path())
    result = _analyse(liu_cohort, table)
    val = _validation_with_extra(liu_cohort, table, result)
    auc = {m: roc_auc_score(val["y"], val[m]) for m in ("CEUS-MP", "CEUS-AP", "CEUS-PP", "CEUS-LP", "true_risk")}
    print(f"\nvalidation AUC over {len(val)} patients ({int(val.y.sum())} early recurrences; the analysis's own "
          f"validation cohort: {int((result.predictions.cohort == 'validation').sum())}): "
          + ", ".join(f"{m} {a:.3f}" for m, a in auc.items()))
    # What each network's prediction follows, over the analysis's patients (Spearman).
    preds = result.predictions
    latents = table.loc[preds.index]
    rho = {(m, h): spearmanr(preds[m], latents[col]).statistic
           for m in ("CEUS-MP", "CEUS-AP", "CEUS-PP", "CEUS-LP")
           for h, col in (("a_ap", "arterial_aggressiveness"), ("a_wo", "washout_aggressiveness"),
                          ("size", "tumour_size_cm"))}
    print(pd.Series(rho).unstack().round(2).to_string())
    for single in ("CEUS-AP", "CEUS-PP", "CEUS-LP"):
        assert auc["CEUS-MP"] > auc[single], single
    assert auc["CEUS-MP"] >= auc["true_risk"] - 0.10
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
