"""``deploy.demo`` makes one CEUS study folder even from a cohort that also holds the patient's MRI study
(the default cohort: the app refuses a folder with two studies)."""

from __future__ import annotations

import pydicom

from deploy.demo import make_demo_study
from hccrisk.synth.cohort import generate_cohort


def test_demo_study_of_a_ceus_and_mri_cohort_is_the_ceus_study(tmp_path):
    cohort = tmp_path / "cohort"
    generate_cohort(cohort, n_patients=1, seed=0, modality="both", workers=1, progress=False)
    folder = make_demo_study(cohort, "SYN0001", tmp_path / "study")
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in folder.glob("*.dcm")]
    assert {h.Modality for h in headers} == {"US", "SR"}
    assert len({h.StudyInstanceUID for h in headers}) == 1
