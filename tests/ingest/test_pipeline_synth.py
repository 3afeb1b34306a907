"""The whole ingest on a synthetic cohort with both modalities (``hccrisk synth``'s layout), one MRI
phase removed: CEUS and the other MRI phases are written, the missing phase is a problem row."""

from __future__ import annotations

import csv

import pytest

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import phase_by_keyword
from hccrisk.ingest.pipeline import ingest

cohort = pytest.importorskip("hccrisk.synth.cohort")


@pytest.mark.slow
def test_synth_cohort_with_a_missing_delayed_phase(tmp_path):
    cohort.generate_cohort(tmp_path / "c", n_patients=1, seed=3, modality="both", workers=1, progress=False)
    removed = [i.path for i in scan(tmp_path / "c" / "dicom").instances
               if i.modality == "MR" and phase_by_keyword(i.series_description)[0] == "DP"]
    assert removed
    for path in removed:
        path.unlink()
    out = tmp_path / "out"
    result = ingest(tmp_path / "c" / "dicom", out, workers=1, progress=False)
    assert (result.n_done, result.n_failed) == (1, 0)
    (pid,) = [p.name for p in out.iterdir() if p.is_dir()]
    for name in ("ceus.npz", "ceus.json", "mri/AP.nii.gz", "mri/PVP.nii.gz", "mri/T2.nii.gz",
                 "mri/transforms/PVP_to_AP.tfm", "mri/mri.json"):
        assert (out / pid / name).exists(), name
    assert not (out / pid / "mri" / "DP.nii.gz").exists()
    with open(out / "problems.csv", newline="") as fh:
        problems = list(csv.DictReader(fh))
    assert [p["problem"].split(":")[0] for p in problems] == ["missing phase DP"]
    with open(out / "manifest.csv", newline="") as fh:
        roles = sorted(r["role"] for r in csv.DictReader(fh) if r["used"] == "1")
    assert roles == ["ceus", "mri:AP", "mri:PVP", "mri:T2"]
