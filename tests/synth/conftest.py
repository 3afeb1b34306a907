"""A small CEUS cohort shared by the synth tests: seed 4 gives one patient of each vendor."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pydicom
import pytest

from hccrisk.synth.cohort import generate_cohort

SEED = 4
N_PATIENTS = 3


@pytest.fixture(scope="session")
def ceus_cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    generate_cohort(out, N_PATIENTS, SEED, signal=1.0, modality="ceus", workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def ceus_files(ceus_cohort) -> dict[str, list[Path]]:
    """CEUS files per vendor letter (from the Manufacturer), ordered by InstanceNumber."""
    from hccrisk.synth.common import EQUIPMENT

    by_maker = {v["US"][0]: k for k, v in EQUIPMENT.items()}
    files: dict[str, list[tuple[int, Path]]] = {}
    for f in sorted(p for p in (ceus_cohort / "dicom").rglob("*") if p.is_file()):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        files.setdefault(by_maker[ds.Manufacturer], []).append((int(ds.InstanceNumber), f))
    return {k: [f for _, f in sorted(v)] for k, v in files.items()}


@pytest.fixture(scope="session")
def truth(ceus_cohort) -> pd.DataFrame:
    return pd.read_csv(ceus_cohort / "truth.csv")
