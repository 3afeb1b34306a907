"""The cohort folder follows docs/architecture.md ("Synthetic cohort layout")."""

from __future__ import annotations

import json

import pandas as pd
import pydicom
import pytest

from hccrisk.synth.ceus import CEUS_SPAN_S, VENDORS, clip_schedule
from hccrisk.synth.latent import draw_latents
from tests.synth.conftest import N_PATIENTS, SEED

TRUTH_REQUIRED = ("aggressiveness liver_reserve lp_recurrence lp_recurrence_rfa lp_recurrence_sr p_er_6m "
                  "p_er_1y p_er_2y p_pfs_2y_rfa p_pfs_2y_sr better_off_swapped signal").split()
OUTCOMES = ("patient_id recurrence_time recurrence_event event_type event_time pfs_time pfs_event os_time "
            "os_event er_6m er_1y er_2y retreatment").split()


def test_tables_and_metadata(ceus_cohort):
    meta = json.loads((ceus_cohort / "cohort.json").read_text())
    assert {k: meta[k] for k in ("seed", "signal", "modality", "size", "n_patients")} == \
        {"seed": SEED, "signal": 1.0, "modality": "ceus", "size": "default", "n_patients": N_PATIENTS}
    assert "hccrisk_version" in meta and "hazard_model" in meta["generator"]
    ids = [p.patient_id for p in draw_latents(N_PATIENTS, SEED)]
    for name in ("clinical", "outcomes", "truth"):
        assert pd.read_csv(ceus_cohort / f"{name}.csv").patient_id.tolist() == ids
    assert pd.read_csv(ceus_cohort / "outcomes.csv").columns.tolist() == OUTCOMES
    assert set(TRUTH_REQUIRED) <= set(pd.read_csv(ceus_cohort / "truth.csv").columns)


def test_patient_ids_match_dicom_and_rois(ceus_cohort, ceus_files):
    ids = set(pd.read_csv(ceus_cohort / "clinical.csv").patient_id)
    dicom_ids = {pydicom.dcmread(f, stop_before_pixels=True).PatientID
                 for files in ceus_files.values() for f in files}
    assert dicom_ids == ids
    for pid in ids:
        roi = pd.read_csv(ceus_cohort / "rois" / "observer1" / pid / "ceus_tumour.csv")
        assert roi.columns.tolist() == ["sop_instance_uid", "frame", "time_s", "cx", "cy", "x0", "y0", "x1",
                                        "y1", "radius_mm"]
        box = pd.read_csv(ceus_cohort / "rois" / "observer2" / pid / "ceus_box.csv")  # n < 30: all
        assert box.columns.tolist() == ["time_s", "x0", "y0", "x1", "y1"] and len(box) == 1


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize("size", ["default", "realistic"])
def test_clip_schedules_keep_the_phase_structure(vendor, size):
    import numpy as np

    v = VENDORS[vendor]
    clips = clip_schedule(v, size, np.random.default_rng(0))
    assert clips[0].times_s[0] <= 0.0 and max(c.times_s[-1] for c in clips) >= 330.0
    assert max(c.times_s[-1] for c in clips) <= CEUS_SPAN_S
    if v.first_clip_s is not None:
        assert 60.0 <= clips[0].times_s[-1] <= 90.0 and len(clips) == 5
    if size == "realistic":
        assert 15.0 <= v.fps[size] <= 25.0
    rates = {VENDORS[k].fps[size] for k in VENDORS}
    assert len(rates) == len(VENDORS)  # frame rates differ by vendor
