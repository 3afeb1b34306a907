import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from hccrisk.errors import InputError
from hccrisk.roi.cine import load_cine
from hccrisk.roi.observers import observer_box, truth_boxes
from hccrisk.roi.sr import cine_boxes_for_sr, read_box_sr, read_box_sr_with_margin, write_box_sr
from hccrisk.roi.tracking import track_box


def test_box_sr_round_trip_on_the_source_frames(roi_cohort, tmp_path):
    pid = "SYN0002"  # several clips: the boxes reference different SOP instances
    cine = load_cine(roi_cohort.ingest / pid)
    track = track_box(cine, observer_box(roi_cohort.roi_dir(pid, 2), cine))
    valid = np.flatnonzero(cine.valid)
    samples = [int(valid[5]), int(valid[-3])]
    items = cine_boxes_for_sr(cine, track.boxes, samples, roi_cohort.ingest / pid)
    assert items[0][1] != items[1][1]
    path = write_box_sr(items, tmp_path / "box.dcm", margin_mm=5.0)
    back = read_box_sr(path)
    assert [b for b, _ in back] == [b for b, _ in items]
    assert [uid for _, uid in back] == [str(cine.source_sop[i]) for i in samples]
    # The stored-frame box is the truth box's pixel frame: the tracked box overlaps the truth there.
    truth = truth_boxes(roi_cohort.roi_dir(pid), cine)
    ox, oy = cine.region_origin
    assert back[0][0].x0 - ox == track.boxes[samples[0], 0] and np.isfinite(truth[samples[0]]).all()
    ds = pydicom.dcmread(path)
    assert ds.Modality == "SR" and ds.PatientID == pid
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) not installed")
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    assert [line for line in out.stderr.splitlines() if line.startswith("Error")] == []


def test_box_sr_refuses_gaps_and_boxes_off_the_frame(roi_cohort, tmp_path):
    pid = "SYN0002"
    cine = load_cine(roi_cohort.ingest / pid)
    track = track_box(cine, observer_box(roi_cohort.roi_dir(pid, 2), cine))
    gap = int(np.flatnonzero(~cine.valid)[0])
    with pytest.raises(InputError, match="gap"):
        cine_boxes_for_sr(cine, track.boxes, [gap], roi_cohort.ingest / pid)
    (box, clip), = cine_boxes_for_sr(cine, track.boxes, [int(np.flatnonzero(cine.valid)[0])], roi_cohort.ingest / pid)
    with pytest.raises(InputError, match="outside"):
        write_box_sr([(box.shifted(10000, 0), clip)], tmp_path / "bad.dcm")


def test_box_sr_reader_agrees_with_highdicom(roi_cohort, tmp_path):
    """read_box_sr walks the SR with pydicom (highdicom's reader takes ~20 ms per box: 45 s for a label app
    SR with a box on every frame of a realistic cine); it must find what highdicom finds."""
    import highdicom as hd

    pid = "SYN0002"
    cine = load_cine(roi_cohort.ingest / pid)
    track = track_box(cine, observer_box(roi_cohort.roi_dir(pid, 2), cine))
    samples = [int(i) for i in np.flatnonzero(cine.valid)[::40]]
    path = write_box_sr(cine_boxes_for_sr(cine, track.expanded(5.0), samples, roi_cohort.ingest / pid),
                        tmp_path / "boxes.dcm", margin_mm=5.0)
    expected = []
    for group in hd.sr.srread(path).content.get_planar_roi_measurement_groups():
        ref = group.roi.ContentSequence[0].ReferencedSOPSequence[0]
        xy = np.asarray(group.roi.value)
        expected.append(((*np.floor(xy.min(0)).astype(int), *np.ceil(xy.max(0)).astype(int)),
                         int(ref.ReferencedFrameNumber) - 1, str(ref.ReferencedSOPInstanceUID)))
    boxes, margin = read_box_sr_with_margin(path)
    assert [((b.x0, b.y0, b.x1, b.y1), b.frame, uid) for b, uid in boxes] == expected and len(expected) == len(samples)
    assert margin == 5.0
    with pytest.raises(InputError, match="TID 1500"):
        read_box_sr(roi_cohort.mri_series["AP"][0])  # an image, not a report
