"""One tiny synthetic cohort per test session (4 patients, seed 0: vendors C, B, A, B), its CEUS
ingested for every patient and its MRI for one patient (N4 off: the ROI tests do not need it)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import select_ceus, select_mri
from hccrisk.preprocess.ceus import ingest_ceus
from hccrisk.preprocess.mri import ingest_mri
from hccrisk.synth.cohort import generate_cohort

MRI_PATIENT = "SYN0003"


@dataclass(frozen=True)
class RoiCohort:
    cohort: Path  # the synthetic cohort (rois/, truth.csv)
    ingest: Path  # per-patient ingest folders
    truth: dict[str, dict[str, str]]  # truth.csv rows by patient_id
    mri_series: dict[str, list[Path]]  # MRI_PATIENT's DICOM files per phase

    def roi_dir(self, patient_id: str, observer: int = 1) -> Path:
        return self.cohort / "rois" / f"observer{observer}" / patient_id


@pytest.fixture(scope="session")
def roi_cohort(tmp_path_factory) -> RoiCohort:
    root = tmp_path_factory.mktemp("roi")
    cohort, ingest = root / "cohort", root / "ingest"
    generate_cohort(cohort, n_patients=4, seed=0, modality="both", workers=1, progress=False)
    found = scan(cohort / "dicom")
    mri_series: dict[str, list[Path]] = {}
    for pid, series in found.by_patient().items():
        ceus, _ = select_ceus(series)
        paths = [i.path for s in ceus for i in s.instances if i.n_frames > 1]
        bolus = next((i.bolus_start for s in ceus for i in s.instances if i.bolus_start), None)
        ingest_ceus(paths, ingest / pid, bolus_start=bolus)
        if pid == MRI_PATIENT:
            phases, _ = select_mri(series)
            mri_series = {p: [i.path for i in s.instances] for p, s in phases.items()}
            ingest_mri({p: mri_series[p] for p in ("AP", "PVP", "DP")}, ingest / pid, n4=False)
    with (cohort / "truth.csv").open(newline="") as fh:
        truth = {r["patient_id"]: r for r in csv.DictReader(fh)}
    return RoiCohort(cohort, ingest, truth, mri_series)
