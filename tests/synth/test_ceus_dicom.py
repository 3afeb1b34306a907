"""CEUS objects as the ingest relies on them: valid DICOM, readable frame by frame, timing and ROIs
consistent with the truth."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import pixel_array

VENDORS = ("A", "B", "C")


@pytest.mark.parametrize("vendor", VENDORS)
def test_dciodvfy_reports_no_errors(ceus_files, vendor):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) not installed")
    for f in ceus_files[vendor][:2]:
        res = subprocess.run(["dciodvfy", str(f)], capture_output=True, text=True)
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("Error")]
        assert errors == [], f"{vendor} {f.name}: {errors}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_frame_reads_with_pydicom_and_highdicom(ceus_files, vendor):
    f = ceus_files[vendor][0]
    ds = pydicom.dcmread(f)
    arr = ds.pixel_array
    n = int(ds.NumberOfFrames)
    assert arr.shape[:3] == (n, ds.Rows, ds.Columns)
    assert arr.dtype == np.uint8
    image = hd.imread(f)
    for i in (0, n // 2, n - 1):
        np.testing.assert_array_equal(pixel_array(f, index=i), arr[i])
        assert image.get_frame(i + 1).shape == arr[i].shape


def test_vendor_profiles(ceus_files):
    a = pydicom.dcmread(ceus_files["A"][0], stop_before_pixels=True)
    b = pydicom.dcmread(ceus_files["B"][0], stop_before_pixels=True)
    c = pydicom.dcmread(ceus_files["C"][0], stop_before_pixels=True)
    assert a.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    assert a.PhotometricInterpretation == "YBR_FULL_422" and len(a.SequenceOfUltrasoundRegions) == 2
    assert b.PhotometricInterpretation == "MONOCHROME2" and "FrameTimeVector" in b
    assert len(b.SequenceOfUltrasoundRegions) == 1
    assert len(ceus_files["C"]) == 1 and "ContrastBolusStartTime" in c
    assert len(ceus_files["A"]) == len(ceus_files["B"]) == 5  # first clip + 4 later clips
    for ds in (a, b, c):
        assert ds.SOPClassUID == pydicom.uid.UltrasoundMultiFrameImageStorage
        assert ds.BurnedInAnnotation == "YES"


def _frame_times(files) -> dict[str, np.ndarray]:
    """Seconds from injection of every frame, from the tags only (as an ingest would)."""
    out, injection = {}, None
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        start = dt.datetime.strptime(str(ds.AcquisitionDateTime), "%Y%m%d%H%M%S.%f")
        if injection is None:
            injection = start
            if "ContrastBolusStartTime" in ds:
                injection = dt.datetime.strptime(str(ds.ContentDate) + str(ds.ContrastBolusStartTime),
                                                 "%Y%m%d%H%M%S.%f")
        n = int(ds.NumberOfFrames)
        if "FrameTimeVector" in ds:
            offsets = np.cumsum([float(v) for v in ds.FrameTimeVector]) / 1000.0
        else:
            offsets = np.arange(n) * float(ds.FrameTime) / 1000.0
        out[ds.SOPInstanceUID] = (start - injection).total_seconds() + offsets
    return out


@pytest.mark.parametrize("vendor", VENDORS)
def test_frame_times_from_tags_match_ground_truth(ceus_cohort, ceus_files, vendor):
    times = _frame_times(ceus_files[vendor])
    pid = pydicom.dcmread(ceus_files[vendor][0], stop_before_pixels=True).PatientID
    roi = pd.read_csv(ceus_cohort / "rois" / "observer1" / pid / "ceus_tumour.csv")
    for uid, group in roi.groupby("sop_instance_uid"):
        np.testing.assert_allclose(times[uid][group["frame"].to_numpy()], group["time_s"], atol=1e-3)
    all_t = np.concatenate(list(times.values()))
    assert all_t.min() <= 0.0 and all_t.max() >= 330.0  # arterial to late phase covered
    first = times[pydicom.dcmread(ceus_files[vendor][0], stop_before_pixels=True).SOPInstanceUID]
    assert first.max() >= 60.0 and np.all(np.diff(first) < 0.6)  # continuous first clip
    assert len(roi) == sum(len(t) for t in times.values())


@pytest.mark.parametrize("vendor", VENDORS)
def test_tumour_box_lies_in_contrast_region_and_enhances(ceus_cohort, ceus_files, truth, vendor):
    f = ceus_files[vendor][0]
    ds = pydicom.dcmread(f)
    region = ds.SequenceOfUltrasoundRegions[-1]  # contrast is the right-hand region
    roi = pd.read_csv(ceus_cohort / "rois" / "observer1" / ds.PatientID / "ceus_tumour.csv")
    roi = roi[roi.sop_instance_uid == ds.SOPInstanceUID]
    assert (roi.x0 >= region.RegionLocationMinX0).all() and (roi.x1 <= region.RegionLocationMaxX1 + 1).all()
    assert (roi.y0 >= region.RegionLocationMinY0).all() and (roi.y1 <= region.RegionLocationMaxY1 + 1).all()
    assert roi.cy.std() > 0  # breathing and drift move the tumour
    arr = ds.pixel_array
    gray = arr[..., 0] if arr.ndim == 4 else arr  # R channel of the gold-tinted contrast is its value
    peak_s = float(truth.set_index("patient_id").loc[ds.PatientID, "ceus_tumour_peak_s"])

    def box_mean(row) -> float:
        return float(gray[int(row.frame), row.y0:row.y1, row.x0:row.x1].mean())

    before = roi[roi.time_s <= 1.0].iloc[0]
    at_peak = roi.iloc[int(np.argmin(np.abs(roi.time_s - peak_s)))]
    assert box_mean(at_peak) > box_mean(before) + 30
