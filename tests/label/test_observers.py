"""Saved labels in the PACS, per observer: the CEUS box label becomes a box SR, the MR label a SEG; the
``final`` label is observer1's reading and ``observer2`` is kept apart; ``hccrisk.roi.io.write_observer_rois``
(what ingest calls) reads both back into the observer folders the ICC analysis uses."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import select_ceus, select_mri
from hccrisk.pacs import connect
from hccrisk.roi.box import iou
from hccrisk.roi.io import observer_of, write_observer_rois
from hccrisk.roi.sr import read_box_sr, read_box_sr_margin

from .conftest import PATIENT
from .test_server import run_client

pytestmark = pytest.mark.slow  # the label server (conftest)


def _truth(cohort, sop_uid: str, observer: str = "observer1") -> list[dict]:
    with (cohort / "rois" / observer / PATIENT / "ceus_tumour.csv").open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["sop_instance_uid"] == sop_uid]


def _fetch_patient(orthanc, study_uid: str, out) -> dict[str, list]:
    """Every series of the study from the PACS (WADO-RS), scanned as ingest scans a folder."""
    pacs = connect(orthanc.dicomweb_url)
    for s in pacs.find_series(study_uid):
        pacs.retrieve(study_uid, out / s["SeriesInstanceUID"], series_uid=s["SeriesInstanceUID"])
    return scan(out).by_patient()


def test_ceus_label_becomes_a_box_sr_per_observer_that_ingest_reads(label_server, orthanc, tmp_path):
    cohort = label_server.cohort
    ceus, _ = select_ceus(scan(cohort / "dicom").by_patient()[PATIENT])
    clip = pydicom.dcmread(next(i.path for s in ceus for i in s.instances if i.n_frames > 1), stop_before_pixels=True)
    rows = _truth(cohort, clip.SOPInstanceUID)
    truth = np.array([[int(r[c]) for c in ("x0", "y0", "x1", "y1")] for r in rows])
    k = int(np.argmin([abs(float(r["time_s"]) - 25.0) for r in rows]))
    clicks = [[int(truth[k, 0]), int(truth[k, 1]), k], [int(truth[k, 2]) - 1, int(truth[k, 3]) - 1, k]]
    label = tmp_path / "box.nii.gz"
    result = run_client(label_server, "infer", "ceus_box", clip.SeriesInstanceUID,
                        json.dumps({"foreground": clicks, "margin_mm": 5.0}), str(label))["params"]
    # observer2 starts from a box 3 px off on each side: a different reading of the same tumour
    clicks2 = [[clicks[0][0] - 3, clicks[0][1] - 3, k], [clicks[1][0] + 3, clicks[1][1] + 3, k]]
    label2 = tmp_path / "box2.nii.gz"
    run_client(label_server, "infer", "ceus_box", clip.SeriesInstanceUID,
               json.dumps({"foreground": clicks2, "margin_mm": 5.0}), str(label2))
    run_client(label_server, "save", clip.SeriesInstanceUID, str(label), "final", json.dumps({"margin_mm": 5.0}))
    run_client(label_server, "save", clip.SeriesInstanceUID, str(label2), "observer2", json.dumps({"margin_mm": 5.0}))

    pacs = connect(orthanc.dicomweb_url)
    srs = {observer_of(s.get("SeriesDescription", "")): s for s in pacs.find_series(clip.StudyInstanceUID)
           if s.get("Modality") == "SR"}
    assert set(srs) == {"observer1", "observer2"}, srs
    files = pacs.retrieve(clip.StudyInstanceUID, tmp_path / "sr1", series_uid=srs["observer1"]["SeriesInstanceUID"])
    boxes = read_box_sr(files[0])
    assert read_box_sr_margin(files[0]) == 5.0
    assert len(boxes) == int(clip.NumberOfFrames) and {sop for _, sop in boxes} == {clip.SOPInstanceUID}
    stored = np.array([[b.x0, b.y0, b.x1, b.y1] for b, _ in sorted(boxes, key=lambda b: b[0].frame)])
    # the SR holds the infer's margin-enlarged box of every frame, exactly
    np.testing.assert_array_equal(stored, np.asarray(result["roi_boxes"]) + np.tile(result["region_origin"], 2))
    inside = np.mean((stored[:, :2] <= truth[:, :2]).all(axis=1) & (stored[:, 2:] >= truth[:, 2:]).all(axis=1))
    assert inside >= 0.98

    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy:
        check = subprocess.run([dciodvfy, str(files[0])], capture_output=True, text=True)
        errors = [line for line in check.stderr.splitlines() if line.startswith("Error")]
        assert not errors, errors

    # ingest's reading: the study as a folder -> rois/observer1|2/ceus_tumour.csv, the tumour box per frame
    series = _fetch_patient(orthanc, clip.StudyInstanceUID, tmp_path / "study")[PATIENT]
    written = write_observer_rois(series, tmp_path / "readings")
    assert {p.parent.name for p in written} == {"observer1", "observer2"}
    # ... and `hccrisk ingest` of the fetched study puts the same readings beside the ingested cine
    from hccrisk.ingest.pipeline import ingest

    result = ingest(tmp_path / "study", tmp_path / "ingest", workers=1, progress=False)
    assert result.n_done == 1, result
    got = {}
    for obs in ("observer1", "observer2"):
        reading = tmp_path / "ingest" / PATIENT / "rois" / obs / "ceus_tumour.csv"
        assert reading.read_bytes() == (tmp_path / "readings" / "rois" / obs / "ceus_tumour.csv").read_bytes()
        with reading.open(newline="") as fh:
            back = sorted(csv.DictReader(fh), key=lambda r: int(r["frame"]))
        got[obs] = np.array([[int(r[c]) for c in ("x0", "y0", "x1", "y1")] for r in back])
    ious = {obs: iou(b, truth) for obs, b in got.items()}
    print(f"CEUS box SR -> ingest: {len(truth)} frames; tumour box IoU vs truth: observer1 mean "
          f"{ious['observer1'].mean():.3f} min {ious['observer1'].min():.3f}, observer2 mean "
          f"{ious['observer2'].mean():.3f}; tumour inside the stored 5 mm ROI on {100 * inside:.1f} % of frames")
    assert ious["observer1"].mean() >= 0.95
    assert not np.array_equal(got["observer1"], got["observer2"])


def test_mr_label_of_a_second_observer_is_a_seg_of_its_own(label_server, orthanc, tmp_path):
    cohort = label_server.cohort
    phases, _ = select_mri(scan(cohort / "dicom").by_patient()[PATIENT])
    ap = pydicom.dcmread(phases["AP"].instances[0].path, stop_before_pixels=True)
    truth1 = cohort / "rois" / "observer1" / PATIENT / "mri_AP_tumour.nii.gz"
    truth2 = cohort / "rois" / "observer2" / PATIENT / "mri_AP_tumour.nii.gz"
    if not truth2.exists():  # observer2 reads a subset of the cohort: use a shifted copy of observer1's
        img = sitk.ReadImage(str(truth1))
        arr = np.roll(sitk.GetArrayFromImage(img) == 1, 1, axis=2).astype(np.uint8)
        shifted = sitk.GetImageFromArray(arr)
        shifted.CopyInformation(img)
        truth2 = tmp_path / "obs2.nii.gz"
        sitk.WriteImage(shifted, str(truth2))
    for tag, path in (("observer2", truth2),):
        mask = sitk.GetArrayFromImage(sitk.ReadImage(str(path))) == 1
        one = sitk.GetImageFromArray(mask.astype(np.uint8))
        one.CopyInformation(sitk.ReadImage(str(path)))
        sitk.WriteImage(one, str(tmp_path / f"{tag}.nii.gz"))
        run_client(label_server, "save", ap.SeriesInstanceUID, str(tmp_path / f"{tag}.nii.gz"), tag,
                   json.dumps({"label_info": [{"name": "tumour"}]}))
    pacs = connect(orthanc.dicomweb_url)
    segs = [s for s in pacs.find_series(ap.StudyInstanceUID) if s.get("Modality") == "SEG"]
    by_observer = {observer_of(s.get("SeriesDescription", "")) for s in segs}
    assert "observer2" in by_observer, segs

    series = _fetch_patient(orthanc, ap.StudyInstanceUID, tmp_path / "study")[PATIENT]
    chosen, _ = select_mri(series)
    write_observer_rois(series, tmp_path / "ingest", chosen)
    back = sitk.ReadImage(str(tmp_path / "ingest" / "rois" / "observer2" / "mri_AP_tumour.nii.gz"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back) > 0,
                                  sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "observer2.nii.gz"))) > 0)
