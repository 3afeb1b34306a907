"""huang2022 science checks on synthetic CEUS cohorts (seed 0): signal 0 (leakage guard), same seed -> same
numbers and the report's files on a small cohort (slow, in CI); the planted signal on a paper-sized one
(heavy: with a 40-patient cohort the validation cohort has ~12 patients, far too few for a 0.05 C-index
tolerance).

Small cohort: ``HCCRISK_HUANG_N`` patients (default 40, CEUS only), its ingest and frame radiomics made once
per module; ``HCCRISK_HUANG_DIR=/some/folder`` keeps them between sessions. Paper-sized cohort (heavy test):
``HCCRISK_HUANG_COHORT`` + ``HCCRISK_HUANG_INGEST`` (e.g. /work/cohorts/default and its ingest), else 120
CEUS patients generated. The signal-0 cohort is the same patients and images with the outcomes' effects
switched off (``cohort_tables(n, seed, 0)``; the images do not depend on the signal)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccrisk.cohort import load_cohort

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
        generate_cohort(cohort, n, SEED, 1.0, "ceus", "default", None, progress=False)
    if not (ingested / "manifest.csv").is_file():
        ingest(cohort / "dicom", ingested, progress=False)
    frames = features_for(cohort, out, ingested, progress=False)
    assert frames.failures.empty, frames.failures
    return HuangCohort(cohort, ingested, out, frames)


@pytest.fixture(scope="module")
def huang(tmp_path_factory) -> HuangCohort:
    root = Path(os.environ["HCCRISK_HUANG_DIR"]) if "HCCRISK_HUANG_DIR" in os.environ \
        else tmp_path_factory.mktemp("huang2022")
    return _prepare(root, N_PATIENTS)


@pytest.fixture(scope="module")
def huang_full(tmp_path_factory) -> HuangCohort:
    given = [os.environ.get(k) for k in ("HCCRISK_HUANG_COHORT", "HCCRISK_HUANG_INGEST")]
    root = Path(os.environ["HCCRISK_HUANG_DIR"]) / "full" if "HCCRISK_HUANG_DIR" in os.environ \
        else tmp_path_factory.mktemp("huang2022-full")
    return _prepare(root, FULL_PATIENTS, *(Path(g) if g else None for g in given))


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

    return analyse(_signal_cohort(huang_full, 1.0), huang_full.frames, seed=SEED)


@pytest.fixture(scope="module")
def null(huang):
    from hccrisk.reproduce.huang2022 import analyse

    return analyse(_signal_cohort(huang, 0.0), huang.frames, seed=SEED)


def _validation(table: pd.DataFrame, model: str) -> pd.Series:
    return table[(table.model == model) & (table.cohort == "validation")].iloc[0]


@pytest.mark.heavy
def test_planted_signal_er_auc_and_os_c_index_approach_the_truth(planted):
    er = _validation(planted.er_performance, "DLR")
    true_auc = planted.truth["er_auc_validation"]
    c = _validation(planted.c_index, "DLR")["C-index"]
    true_c = planted.truth["os_c_lp_recurrence_validation"]
    print(f"\nER DLR validation AUC {er.AUC:.3f} vs true risk {true_auc:.3f}; OS DLR validation C {c:.3f} "
          f"vs true lp_recurrence {true_c:.3f}")
    assert abs(er.AUC - true_auc) <= 0.10
    assert abs(c - true_c) <= 0.05


@pytest.mark.slow
def test_signal_0_every_validation_ci_contains_one_half(null):
    perf = null.er_performance[null.er_performance.cohort == "validation"]
    print("\n" + perf[["model", "AUC", "AUC low", "AUC high"]].to_string())
    assert ((perf["AUC low"] <= 0.5) & (perf["AUC high"] >= 0.5)).all()
    c = null.c_index[(null.c_index.cohort == "validation") & null.c_index.model.isin(["DLR", "Clinical + DLR"])]
    print(c.to_string())
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
    assert {"c_index", "er_performance", "fine_gray_multivariable", "classes", "readers", "predictions"} <= tables
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert {"roc_er", "os_brier", "cif_er"} <= set(figures)
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert prov["seed"] == SEED and prov["parameter_files"]
    # every patient of the analysis has its scores; the split is recorded
    preds = pd.read_csv(tmp_path / "tables" / "predictions.csv", index_col=0)
    assert np.isfinite(preds[["DLR", "dlr_os"]].to_numpy()).all()
    assert len(prov["split"]["training_ids"]) + len(prov["split"]["validation_ids"]) == len(preds)
