"""The risk SR: valid DICOM (dciodvfy), read back by highdicom with the values written, stable UIDs."""

from __future__ import annotations

import math

import highdicom as hd
import pydicom
import pytest

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox
from hccrisk.roi.sr import write_box_sr
from hccrisk.results.sr import RiskResult, read_risk_sr, write_risk_sr
from tests.results.conftest import dciodvfy

FULL = RiskResult("ceus_mp", "0.1.0", imaging_signature=0.123456789012345, risk=0.6789012345678901, cutoff=0.42,
                  clinical={"afp": 400.5, "alb": 38.25, "tbil": 17.1, "plt": 143.0, "sex": "M", "child_pugh": "A",
                            "tumour_size": 3.4})
MISSING = RiskResult("ceus_mp", "0.1.0", imaging_signature=0.31, risk=None, cutoff=0.42,
                     clinical={"alb": 38.25, "bclc": "A"}, missing=("afp", "tbil"))


@pytest.mark.parametrize("result", [FULL, MISSING], ids=["complete", "missing-values"])
def test_ceus_sr_valid_and_read_back(ceus_files, tmp_path, result):
    path = write_risk_sr(result, ceus_files[:2], tmp_path / "sr.dcm")
    errors, _ = dciodvfy(path)
    assert errors == []
    back = read_risk_sr(path)
    assert back.model_name == "ceus_mp" and back.model_version == "0.1.0"
    assert back.imaging_signature == pytest.approx(result.imaging_signature, abs=1e-9)
    assert back.clinical.keys() == result.clinical.keys()
    for column, value in result.clinical.items():
        assert back.clinical[column] == (pytest.approx(value, abs=1e-9) if isinstance(value, float) else value)
    assert back.missing == result.missing
    if result.risk is None:
        assert back.risk is None and back.risk_group is None
    else:
        assert abs(back.risk - result.risk) <= 1e-9
        assert back.cutoff == pytest.approx(0.42) and back.risk_group == "high"


def test_sr_references_source_study_and_roi(ceus_files, tmp_path):
    roi = write_box_sr([(CeusBox(10, 12, 40, 44, 0), ceus_files[0])], tmp_path / "box_sr.dcm")
    path = write_risk_sr(FULL, ceus_files[:1], tmp_path / "sr.dcm", roi_file=roi)
    sr = hd.sr.srread(path)
    src = pydicom.dcmread(ceus_files[0], stop_before_pixels=True)
    assert sr.StudyInstanceUID == src.StudyInstanceUID and sr.PatientID == src.PatientID
    evidence = {item.ReferencedSOPInstanceUID
                for study in sr.CurrentRequestedProcedureEvidenceSequence
                for series in study.ReferencedSeriesSequence for item in series.ReferencedSOPSequence}
    roi_uid = pydicom.dcmread(roi).SOPInstanceUID
    assert {src.SOPInstanceUID, roi_uid} <= evidence


def test_mri_sr_valid(mri_files, tmp_path):
    path = write_risk_sr(FULL, mri_files[:3], tmp_path / "sr.dcm")
    errors, _ = dciodvfy(path)
    assert errors == []
    procedures = [item.ConceptCodeSequence[0].CodeMeaning for item in hd.sr.srread(path).content[0].ContentSequence
                  if item.ConceptNameCodeSequence[0].CodeValue == "121058"]  # DCM Procedure reported
    assert procedures == ["Magnetic resonance imaging of abdomen"]  # follows the source modality


def test_stable_uids(ceus_files, tmp_path):
    a = pydicom.dcmread(write_risk_sr(FULL, ceus_files[:1], tmp_path / "a.dcm"))
    b = pydicom.dcmread(write_risk_sr(MISSING, ceus_files[:1], tmp_path / "b.dcm"))
    newer = RiskResult("ceus_mp", "0.2.0", 0.1, 0.2, 0.42)
    c = pydicom.dcmread(write_risk_sr(newer, ceus_files[:1], tmp_path / "c.dcm"))
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    assert c.SOPInstanceUID != a.SOPInstanceUID


def test_low_risk_group(ceus_files, tmp_path):
    low = RiskResult("ceus_mp", "0.1.0", 0.2, 0.41999, 0.42)
    assert read_risk_sr(write_risk_sr(low, ceus_files[:1], tmp_path / "sr.dcm")).risk_group == "low"


@pytest.mark.parametrize("result, problem", [
    (RiskResult("m", "1", 1.5, 0.2, 0.4), "imaging signature"),
    (RiskResult("m", "1", 0.5, math.nan, 0.4), "risk"),
    (RiskResult("m", "1", 0.5, 0.2, 0.4, clinical={"shoe_size": 42.0}), "shoe_size"),
])
def test_bad_results_rejected(ceus_files, tmp_path, result, problem):
    with pytest.raises(InputError, match=problem):
        write_risk_sr(result, ceus_files[:1], tmp_path / "sr.dcm")


def test_read_rejects_non_report(ceus_files):
    with pytest.raises(InputError, match=str(ceus_files[0].name)):
        read_risk_sr(ceus_files[0])
