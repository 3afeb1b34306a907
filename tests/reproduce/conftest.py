"""One synthetic MRI cohort per test session for the reproduction science checks, with its ingest and
radiomics (observer 1 and 2) computed once.

Cost: the ingest (~12-14 s CPU per patient: N4, registration) and the radiomics (6-9 extractions per
patient) dominate: ~45 CPU-minutes for 120 patients. Set ``HCCRISK_REPRO_DIR`` to a folder to keep the
cohort, ingest and feature cache between sessions (it is reused when present); ``HCCRISK_REPRO_N``
sets the cohort size (default 120, the paper-sized minimum for a 0.10 AUC tolerance)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from hccrisk.cohort import load_cohort
from hccrisk.synth.cohort import generate_cohort

N_PATIENTS = int(os.environ.get("HCCRISK_REPRO_N", "120"))
SEED = 0


@dataclass(frozen=True)
class ReproCohort:
    cohort: Path  # the synthetic cohort folder (signal 1)
    ingest: Path
    out: Path  # work folder of the feature extraction (masks, radiomics cache)
    observer1: pd.DataFrame
    observer2: pd.DataFrame


@pytest.fixture(scope="session")
def repro_cohort(tmp_path_factory) -> ReproCohort:
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.reproduce.zhao2024 import features_for

    root = Path(os.environ["HCCRISK_REPRO_DIR"]) if "HCCRISK_REPRO_DIR" in os.environ \
        else tmp_path_factory.mktemp("repro")
    cohort, ingested, out = root / "cohort", root / "ingest", root / "features"
    if not (cohort / "cohort.json").is_file():
        generate_cohort(cohort, N_PATIENTS, SEED, 1.0, "mri", "default", None, progress=False)
    if not (ingested / "manifest.csv").is_file():
        ingest(cohort / "dicom", ingested, progress=False)
    f1, f2, failures = features_for(cohort, out, ingested)
    assert failures.empty, failures
    return ReproCohort(cohort, ingested, out, f1, f2)


def cohort_table(repro: ReproCohort, signal: float) -> pd.DataFrame:
    """The cohort's table at ``signal``: the images (hence the features) do not depend on the signal,
    only the outcomes do (hccrisk.synth.latent), so signal 0 is the same patients with the effects off."""
    from hccrisk.synth.cohort import cohort_tables

    if signal == 1.0:
        return load_cohort(repro.cohort, with_truth=True)
    meta = json.loads((repro.cohort / "cohort.json").read_text())
    tables = cohort_tables(meta["n_patients"], meta["seed"], signal)
    folder = repro.out / f"signal{signal:g}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return load_cohort(folder, with_truth=True)
