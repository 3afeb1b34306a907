"""The label server for real: Orthanc (tests/orthanc.py) with one synthetic patient, `monailabel
start_server` from .venv-label on its DICOMweb, and MONAI Label's own client run from .venv-label."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import select_ceus, select_mri
from hccrisk.pacs import connect
from hccrisk.roi.io import observer_of

from .conftest import MULTI_CLIP_PATIENT, PATIENT

pytestmark = pytest.mark.slow  # starts Orthanc, generates a patient, starts the server (~1 min)
CLIENT = Path(__file__).with_name("client.py")


def run_client(server, *args: str) -> dict:
    done = subprocess.run([str(server.python), str(CLIENT), server.url, *args], env=server.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stderr[-3000:]}\nserver log:\n{server.log.read_text()[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_info_lists_the_apps_tasks(label_server):
    info = run_client(label_server, "info")
    assert info["name"] == "hccrisk"
    assert set(info["models"]) >= {"ceus_box", "mri_tumour", "whole_liver"}
    assert "whole_liver" in info["trainers"]
    assert info["models"]["ceus_box"]["config"]["margin_mm"] == 5.0


def test_mri_tumour_infer_from_one_click_matches_the_truth_voi_and_saves_a_seg(label_server, orthanc, tmp_path):
    series = scan(label_server.cohort / "dicom").by_patient()[PATIENT]
    phases, _ = select_mri(series)
    series_uid = pydicom.dcmread(phases["AP"].instances[0].path, stop_before_pixels=True).SeriesInstanceUID
    # the truth mask has exactly the geometry of SimpleITK's series reader, as MONAI Label's conversion
    truth_img = sitk.ReadImage(str(label_server.cohort / "rois" / "observer1" / PATIENT / "mri_AP_tumour.nii.gz"))
    truth = sitk.GetArrayFromImage(truth_img) == 1
    z, y, x = (int(round(v)) for v in np.argwhere(truth).mean(axis=0))
    assert truth[z, y, x]
    out = tmp_path / "tumour.nii.gz"
    result = run_client(label_server, "infer", "mri_tumour", series_uid, json.dumps({"foreground": [[x, y, z]]}),
                        str(out))
    label = sitk.ReadImage(str(out))
    assert label.GetSize() == truth_img.GetSize()
    np.testing.assert_allclose(label.GetSpacing(), truth_img.GetSpacing(), rtol=1e-4)
    got = sitk.GetArrayFromImage(label) > 0
    dice = 2 * (got & truth).sum() / (got.sum() + truth.sum())
    print(f"mri_tumour: Dice {dice:.3f} vs observer1's AP VOI ({truth.sum()} voxels), "
          f"{result['params'].get('latency_s')} s")
    assert dice > 0.7

    # the final label becomes a DICOM SEG in Orthanc (MONAI Label's dcmqi conversion), which hccrisk reads back
    saved = run_client(label_server, "save", series_uid, str(out), "final",
                       json.dumps({"label_info": [{"name": "tumour", "description": "HCC tumour VOI"}]}))
    assert saved
    pacs = connect(orthanc.dicomweb_url)
    study_uid = pydicom.dcmread(phases["AP"].instances[0].path, stop_before_pixels=True).StudyInstanceUID
    segs = [s for s in pacs.find_series(study_uid) if s.get("Modality") == "SEG"
            and observer_of(s.get("SeriesDescription", "")) == "observer1"]  # the final label is observer1's
    assert len(segs) == 1, segs
    files = pacs.retrieve(study_uid, tmp_path / "fetched", series_uid=segs[0]["SeriesInstanceUID"])
    seg = hd.seg.segread(files[0])
    assert seg.SegmentSequence[0].SegmentLabel == "tumour"
    # dcmqi writes frames only for slices with tumour; highdicom reads the missing ones as empty
    sources = [pydicom.dcmread(i.path, stop_before_pixels=True) for i in phases["AP"].instances]
    normal = np.cross(*np.reshape(sources[0].ImageOrientationPatient, (2, 3)))
    sources.sort(key=lambda d: float(np.dot(normal, d.ImagePositionPatient)))  # SimpleITK's slice order
    back = seg.get_pixels_by_source_instance([d.SOPInstanceUID for d in sources],
                                             assert_missing_frames_are_empty=True,
                                             ignore_spatial_locations=True)[..., 0]  # dcmqi omits the flag
    np.testing.assert_array_equal(back > 0, got)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) boxes x0, y0, x1, y1 (exclusive ends)."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return ix * iy / (area(a) + area(b) - ix * iy)


def test_ceus_box_infer_from_two_corner_clicks_tracks_the_tumour(label_server, tmp_path):
    series = scan(label_server.cohort / "dicom").by_patient()[PATIENT]
    ceus, _ = select_ceus(series)
    clips = [i for s in ceus for i in s.instances if i.n_frames > 1]
    assert len(clips) == 1, "this test expects the one-clip patient (MONAI Label converts one series to one image)"
    ds = pydicom.dcmread(clips[0].path, stop_before_pixels=True)
    with (label_server.cohort / "rois" / "observer1" / PATIENT / "ceus_tumour.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sop_instance_uid"] == ds.SOPInstanceUID]
    truth = np.array([[int(r[c]) for c in ("x0", "y0", "x1", "y1")] for r in rows])  # stored-frame pixels
    k = int(np.argmin([abs(float(r["time_s"]) - 25.0) for r in rows]))  # an arterial-phase frame, tumour clear
    clicks = [[int(truth[k, 0]), int(truth[k, 1]), k], [int(truth[k, 2]) - 1, int(truth[k, 3]) - 1, k]]
    out = tmp_path / "box.nii.gz"
    result = run_client(label_server, "infer", "ceus_box", ds.SeriesInstanceUID,
                        json.dumps({"foreground": clicks, "margin_mm": 5.0}), str(out))["params"]
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert mask.shape == (int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    boxes = np.asarray(result["boxes"]) + np.tile(result["region_origin"], 2)
    iou = _iou(boxes, truth)
    inside = np.mean([mask[t, y0:y1, x0:x1].all() for t, (x0, y0, x1, y1) in enumerate(truth)])
    assert result["region_origin"] != [0, 0]  # the US regions were read from the cached DICOM header
    print(f"ceus_box: {len(truth)} frames, IoU mean {iou.mean():.3f} min {iou.min():.3f}, tumour inside the "
          f"5 mm box on {100 * inside:.1f} % of frames, source {result['tracking_source']}, {result['latency_s']} s")
    assert inside >= 0.98
    assert iou.mean() >= 0.95

    # the user corrects a late frame: the re-run keeps the frames before it and starts from the correction
    j = int(np.argmin(iou[k + 1:])) + k + 1  # the worst frame after the anchor
    again = run_client(label_server, "infer", "ceus_box", ds.SeriesInstanceUID,
                       json.dumps({"foreground": clicks, "corrections": [[*truth[j].tolist(), j]]}),
                       str(tmp_path / "box2.nii.gz"))["params"]
    boxes2 = np.asarray(again["boxes"]) + np.tile(again["region_origin"], 2)
    np.testing.assert_array_equal(boxes2[:j], boxes[:j])
    np.testing.assert_array_equal(boxes2[j], truth[j])


def test_whole_liver_train_task_publishes_weights_the_next_infer_uses(label_server, tmp_path):
    series = scan(label_server.cohort / "dicom").by_patient()[PATIENT]
    phases, _ = select_mri(series)
    series_uid = pydicom.dcmread(phases["PVP"].instances[0].path, stop_before_pixels=True).SeriesInstanceUID
    liver = label_server.cohort / "rois" / "observer1" / PATIENT / "mri_PVP_liver.nii.gz"
    weights = Path(label_server.env["HCCRISK_LABEL_MODEL_DIR"]) / "whole_liver.pt"
    assert not weights.exists()
    done = subprocess.run([str(label_server.python), str(CLIENT), label_server.url, "infer", "whole_liver", series_uid,
                           "{}", str(tmp_path / "none.nii.gz")], env=label_server.env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0  # no weights yet: the server refuses the infer

    run_client(label_server, "save", series_uid, str(liver), "final", json.dumps({"label_info": [{"name": "liver"}]}))
    status = run_client(label_server, "train", "whole_liver", json.dumps(
        {"max_epochs": 2, "val_split": 0.0, "dataset": "Dataset", "dataloader": "DataLoader", "tracking": "None",
         "multi_gpu": False, "pretrained": False, "name": "test"}), "240")
    details = "\n".join(status.get("details", []))
    assert status.get("status") == "DONE" and "Train completed" in details, f"{status}\n{label_server.log.read_text()[-3000:]}"

    assert weights.exists()
    # only the liver label is learnt, not another test's tumour VOI saved as a final label
    assert "Total Records for Training: 1" in label_server.log.read_text()

    out = tmp_path / "liver.nii.gz"
    run_client(label_server, "infer", "whole_liver", series_uid, "{}", str(out))
    truth_img = sitk.ReadImage(str(liver))
    label = sitk.ReadImage(str(out))
    assert label.GetSize() == truth_img.GetSize()
    got, truth = sitk.GetArrayFromImage(label) > 0, sitk.GetArrayFromImage(truth_img) > 0
    print(f"whole_liver after 2 epochs on one patient: Dice {2 * (got & truth).sum() / (got.sum() + truth.sum()):.3f}")


def test_ceus_box_infer_on_a_multi_clip_series(label_server, tmp_path):
    """MONAI Label's own conversion fails on a series of several multi-frame clips; the app writes the
    cine itself (all clips in acquisition order) and tracks across the clips."""
    ceus_cohort = label_server.cohort.parent / "ceus"
    series = scan(ceus_cohort / "dicom").by_patient()[MULTI_CLIP_PATIENT]
    ceus, _ = select_ceus(series)
    clips = sorted((pydicom.dcmread(i.path, stop_before_pixels=True) for s in ceus for i in s.instances
                    if i.n_frames > 1), key=lambda d: str(d.AcquisitionDateTime))
    assert len(clips) > 1
    starts = np.cumsum([0] + [int(d.NumberOfFrames) for d in clips])
    first = {str(d.SOPInstanceUID): int(s) for d, s in zip(clips, starts)}
    truth = np.zeros((int(starts[-1]), 4), int)
    with (ceus_cohort / "rois" / "observer1" / MULTI_CLIP_PATIENT / "ceus_tumour.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            truth[first[r["sop_instance_uid"]] + int(r["frame"])] = [int(r[c]) for c in ("x0", "y0", "x1", "y1")]
    k = 40  # in the first (long) clip
    clicks = [[int(truth[k, 0]), int(truth[k, 1]), k], [int(truth[k, 2]) - 1, int(truth[k, 3]) - 1, k]]
    out = tmp_path / "box.nii.gz"
    result = run_client(label_server, "infer", "ceus_box", str(clips[0].SeriesInstanceUID),
                        json.dumps({"foreground": clicks}), str(out))["params"]
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert mask.shape[0] == len(truth)
    boxes = np.asarray(result["boxes"]) + np.tile(result["region_origin"], 2)
    iou = _iou(boxes, truth)
    inside = np.mean([mask[t, y0:y1, x0:x1].all() for t, (x0, y0, x1, y1) in enumerate(truth)])
    print(f"ceus_box multi-clip: {len(clips)} clips, {len(truth)} frames, IoU mean {iou.mean():.3f} min "
          f"{iou.min():.3f}, inside the 5 mm box on {100 * inside:.1f} %, source {result['tracking_source']}")
    assert inside >= 0.98
