import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox
from hccrisk.roi.cine import load_cine
from hccrisk.roi.io import (read_box_json, read_seg, read_track_csv, write_box_json, write_mask_nifti,
                            write_seg, write_track_csv)
from hccrisk.roi.mri import read_mask
from hccrisk.roi.tracking import track_box

from .conftest import MRI_PATIENT


def test_seg_round_trip_and_dciodvfy(roi_cohort, tmp_path):
    files = roi_cohort.mri_series["AP"]
    mask = read_mask(roi_cohort.roi_dir(MRI_PATIENT) / "mri_AP_tumour.nii.gz")
    labels = sitk.GetArrayFromImage(mask)
    values = [int(v) for v in np.unique(labels) if v]
    path = write_seg(mask, files, tmp_path / "seg.dcm", {v: "tumour" for v in values})
    back, names = read_seg(path, files)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), labels)
    assert back.GetSpacing() == pytest.approx(mask.GetSpacing()) and back.GetOrigin() == pytest.approx(mask.GetOrigin())
    assert len(names) == len(values)
    seg = pydicom.dcmread(path)
    src = pydicom.dcmread(files[0])
    assert seg.Modality == "SEG" and seg.StudyInstanceUID == src.StudyInstanceUID
    assert seg.FrameOfReferenceUID == src.FrameOfReferenceUID
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) not installed")
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert errors == [], errors


def test_liver_seg_and_nifti(roi_cohort, tmp_path):
    files = roi_cohort.mri_series["AP"]
    liver = read_mask(roi_cohort.roi_dir(MRI_PATIENT) / "mri_AP_liver.nii.gz")
    back, names = read_seg(write_seg(liver, files, tmp_path / "liver.dcm", {1: "liver"}), files)
    assert names == {1: "liver"}
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(liver))
    nii = read_mask(write_mask_nifti(back, tmp_path / "liver.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(nii), sitk.GetArrayFromImage(liver))


def test_seg_rejects_a_mask_on_another_grid(roi_cohort, tmp_path):
    mask = read_mask(roi_cohort.roi_dir(MRI_PATIENT) / "mri_T2_tumour.nii.gz")  # T2 grid, AP files
    with pytest.raises(InputError):
        write_seg(mask, roi_cohort.mri_series["AP"], tmp_path / "bad.dcm")
    with pytest.raises(InputError, match="not a readable DICOM Segmentation"):
        read_seg(roi_cohort.mri_series["AP"][0], roi_cohort.mri_series["AP"])


def test_box_json_and_track_csv_round_trip(roi_cohort, tmp_path):
    box = CeusBox(10, 12, 30, 33, 57)
    assert read_box_json(write_box_json(box, tmp_path / "box.json", spacing_mm=(1.5, 1.5))) == box
    cine = load_cine(roi_cohort.ingest / "SYN0004")
    track = track_box(cine, CeusBox(40, 30, 60, 50, cine.sample_at(20.0)))
    path = write_track_csv(track, cine.times, cine.valid, tmp_path / "track.csv", margin_mm=5.0)
    np.testing.assert_array_equal(read_track_csv(path), track.expanded(5.0))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="bad.json"):
        read_box_json(tmp_path / "bad.json")
