"""huang2022 science checks on synthetic CEUS cohorts (seed 0), all slow (in CI): signal 0 (leakage guard),
same seed -> same numbers and the report's files on a small cohort; the planted signal on a paper-sized one
(a 40-patient cohort has ~12 validation patients, far too few for a 0.10 AUC / 0.05 C-index tolerance).
Cost, cold (measured 2026-11-25 on the shared 2 cores, load 3-5): the planted check ~80 CPU-s, 118 s wall
(generation 29 s CPU, ingest 19 s, frames + radiomics of 120 + 30 patients 24 s, one analysis 9 s); the
small cohort's set-up 28 s CPU, each of its two signal-0 analyses ~7 s (was ~85 s: the ER L1-logistic path
on nearly collinear mRMR features, where coordinate descent crawls; hccrisk.features.lasso now solves those
steps exactly by LARS). With test_huang2022_nodlr and tests/features: 111 CPU-s, 3:23 wall cold (was 273
CPU-s, 9:21); 39 CPU-s, 55 s with HCCRISK_HUANG_DIR kept (was 186 CPU-s, 3:30).

Small cohort: ``HCCRISK_HUANG_N`` patients (default 40, CEUS only), its ingest and frame radiomics made once
per module; ``HCCRISK_HUANG_DIR=/some/folder`` keeps them between sessions. Paper-sized cohort (planted check):
``HCCRISK_HUANG_COHORT`` + ``HCCRISK_HUANG_INGEST`` (e.g. /work/cohorts/default and its ingest), else 120
CEUS patients generated. The signal-0 cohort is the same patients and images with the outcomes' effects
switched off (``cohort_tables(n, seed, 0)``; the images do not depend on the signal)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from hccrisk.cohort import load_cohort
from tests.scratch import scratch_folder

from .conftest import _measured  # prints a step's wall and CPU time (radiomics workers included) and the load

N_PATIENTS = int(os.environ.get("HCCRISK_HUANG_N", "40"))
FULL_PATIENTS = 120
SEED = 0


@dataclass(frozen=True)
class HuangCohort:
    cohort: Path
    ingest: Path
    out: Path
    frames: object  # huang2022_frames.FrameData


def _prepare(root: Path, n: int, cohort: Path | None = None, ingested: Path | None = None) -> HuangCohort:
    import torch

    from hccrisk.ingest.pipeline import ingest
    from hccrisk.reproduce.huang2022 import features_for
    from hccrisk.synth.cohort import generate_cohort

    torch.set_num_threads(1)
    cohort, ingested, out = cohort or root / "cohort", ingested or root / "ingest", root / "out"
    if not (cohort / "cohort.json").is_file():
        with _measured(f"synth {n} CEUS patients"):
            generate_cohort(cohort, n, SEED, 1.0, "ceus", "default", None, progress=False)
    if not (ingested / "manifest.csv").is_file():
        with _measured(f"ingest {n} patients"):
            ingest(cohort / "dicom", ingested, progress=False)
    with _measured(f"frames + radiomics, {n} patients"):
        frames = features_for(cohort, out, ingested, progress=False)
    assert frames.failures.empty, frames.failures
    return HuangCohort(cohort, ingested, out, frames)


@pytest.fixture(scope="module")
def huang(request, tmp_path_factory) -> Iterator[HuangCohort]:
    with scratch_folder(request, tmp_path_factory, "huang2022", "HCCRISK_HUANG_DIR") as root:
        yield _prepare(root, N_PATIENTS)


@pytest.fixture(scope="module")
def huang_full(request, tmp_path_factory) -> Iterator[HuangCohort]:
    given = [os.environ.get(k) for k in ("HCCRISK_HUANG_COHORT", "HCCRISK_HUANG_INGEST")]
    with scratch_folder(request, tmp_path_factory, "huang2022-full", "HCCRISK_HUANG_DIR", "full") as root:
        yield _prepare(root, FULL_PATIENTS, *(Path(g) if g else None for g in given))


def _signal_cohort(h: HuangCohort, signal: float) -> pd.DataFrame:
    from hccrisk.synth.cohort import cohort_tables

    if signal == 1.0:
        return load_cohort(h.cohort, with_truth=True)
    meta = json.loads((h.cohort / "cohort.json").read_text())
    folder = h.out / f"signal{signal:g}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in cohort_tables(meta["n_patients"], meta["seed"], signal).items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return load_cohort(folder, with_truth=True)


@pytest.fixture(scope="module")
def planted(huang_full):
    from hccrisk.reproduce.huang2022 import analyse

    with _measured("analysis, signal 1"):
        return analyse(_signal_cohort(huang_full, 1.0), huang_full.frames, seed=SEED)


@pytest.fixture(scope="module")
def null(huang):
    from hccrisk.reproduce.huang2022 import analyse

    return analyse(_signal_cohort(huang, 0.0), huang.frames, seed=SEED)


def _validation(table: pd.DataFrame, model: str) -> pd.Series:
    return table[(table.model == model) & (table.cohort == "validation")].iloc[0]


@pytest.mark.slow
def test_planted_signal_best_er_auc_and_os_c_index_approach_the_truth(planted):
    """Issue 5: the best model's validation AUC within 0.10 of the true risk's (ER), and the best OS model's
    validation C-index within 0.05 of the true lp_recurrence's. The best model, not the DLR model alone:
    huang2022's two frames show the arterial half of the aggressiveness and the tumour size only
    (docs/synthetic.md), whose latent ceiling (6000 patients, docs/papers/huang2022.md) is AUC 0.740 vs
    the true risk's 0.840 for ER and C 0.645 vs 0.709 for OS: a DLR score cannot come within these
    tolerances in expectation; the clinical variables (AFP, number, GGT, AST) see the rest (clinical +
    images 0.798 and 0.711)."""
    perf = planted.er_performance[planted.er_performance.cohort == "validation"].set_index("model")
    c = planted.c_index[(planted.c_index.cohort == "validation") & ~planted.c_index.model.str.startswith("True")]
    c = c.set_index("model")["C-index"]
    true_auc, true_c = planted.truth["er_auc_validation"], planted.truth["os_c_lp_recurrence_validation"]
    print(f"\nER validation AUC: {perf.AUC.round(3).to_dict()} vs true risk {true_auc:.3f}; OS validation C: "
          f"{c.round(3).to_dict()} vs true lp_recurrence {true_c:.3f}; DLR not formed: {planted.dlr_missing}")
    assert abs(perf.AUC.max() - true_auc) <= 0.10
    assert abs(c.max() - true_c) <= 0.05


@pytest.mark.slow
def test_signal_0_every_validation_ci_contains_one_half(null):
    perf = null.er_performance[null.er_performance.cohort == "validation"]
    print("\n" + perf[["model", "AUC", "AUC low", "AUC high"]].to_string())
    assert ((perf["AUC low"] <= 0.5) & (perf["AUC high"] >= 0.5)).all()
    c = null.c_index[(null.c_index.cohort == "validation") & null.c_index.model.isin(["DLR", "Clinical + DLR"])]
    print(c.to_string(), null.dlr_missing)
    assert len(c) == 2 or "OS" in null.dlr_missing  # a DLR model is either in the table or reported as not formed
    assert ((c["low"] <= 0.5) & (c["high"] >= 0.5)).all()


@pytest.mark.slow
def test_same_seed_same_numbers(huang, null):
    from hccrisk.reproduce.huang2022 import analyse

    again = analyse(_signal_cohort(huang, 0.0), huang.frames, seed=SEED)
    for name in ("er_performance", "c_index", "fine_gray_multivariable", "classes", "nri", "brier"):
        pd.testing.assert_frame_equal(getattr(null, name), getattr(again, name), obj=name)
    pd.testing.assert_frame_equal(null.predictions, again.predictions)


@pytest.mark.slow
def test_report_files(huang, null, tmp_path):
    from hccrisk.reproduce.common import cohort_meta
    from hccrisk.reproduce.huang2022_report import write_huang2022_report

    path = write_huang2022_report(null, tmp_path, huang.cohort, cohort_meta(huang.cohort), huang.frames.failures, 1.0)
    html = path.read_text()
    for heading in ("Early recurrence", "Overall survival", "Fine-Gray", "Four classes", "Reader study"):
        assert heading in html
    tables = {p.stem for p in (tmp_path / "tables").glob("*.csv")}
    assert {"c_index", "er_performance", "fine_gray_multivariable", "predictions"} <= tables
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert {"roc_er", "os_brier"} <= set(figures)
    assert ("cif_er" in figures) == ("readers" in tables) == ("ER" not in null.dlr_missing)
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["seed"] == SEED and prov["parameter_files"]
    # every patient of the analysis has its scores, or the report says why a DLR score is missing; the split is recorded
    preds = pd.read_csv(tmp_path / "tables" / "predictions.csv", index_col=0)
    for arm, column in (("ER", "DLR"), ("OS", "dlr_os")):
        if arm in null.dlr_missing:
            assert column not in preds and f"{arm} DLR score not formed" in html
        else:
            assert np.isfinite(preds[column].to_numpy()).all()
    assert ("classes" in tables) == (not null.dlr_missing)
    assert len(prov["split"]["training_ids"]) + len(prov["split"]["validation_ids"]) == len(preds)
