import numpy as np
import pydicom
from typer.testing import CliRunner

from hccrisk.roi.cine import load_cine
from hccrisk.roi.io import read_track_csv
from hccrisk.roi.observers import truth_boxes

from .conftest import MRI_PATIENT


def _app():
    from hccrisk.cli import _register, app

    _register()
    return app


def test_roi_track_command(roi_cohort, tmp_path):
    pid = "SYN0003"
    cine = load_cine(roi_cohort.ingest / pid)
    truth = truth_boxes(roi_cohort.roi_dir(pid), cine)
    k = cine.sample_at(25.0)
    ox, oy = cine.region_origin
    x0, y0, x1, y1 = (int(v) for v in truth[k] + [ox, oy, ox, oy])  # drawn on the stored frame
    out, sr = tmp_path / "track.csv", tmp_path / "box_sr.dcm"
    result = CliRunner().invoke(_app(), ["roi", "track", str(roi_cohort.ingest / pid), "--box",
                                         f"{x0},{y0},{x1},{y1}", "--time", "25", "--stored", "--margin", "0",
                                         "--out", str(out), "--sr", str(sr)])
    assert result.exit_code == 0, result.output
    boxes = read_track_csv(out)
    v = cine.valid
    np.testing.assert_array_equal(boxes[v], truth[v].astype(int))  # dual display: exact
    assert pydicom.dcmread(sr).Modality == "SR"
    bad = CliRunner().invoke(_app(), ["roi", "track", str(roi_cohort.ingest / pid), "--box", "1,2,3",
                                      "--time", "25", "--out", str(out)])
    assert bad.exit_code == 2 and "x0,y0,x1,y1" in bad.output


def test_roi_seg_command(roi_cohort, tmp_path):
    files = roi_cohort.mri_series["AP"]
    folder = tmp_path / "series"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    out = tmp_path / "seg.dcm"
    result = CliRunner().invoke(_app(), ["roi", "seg", str(roi_cohort.roi_dir(MRI_PATIENT) / "mri_AP_liver.nii.gz"),
                                         str(folder), "--out", str(out), "--name", "liver"])
    assert result.exit_code == 0, result.output
    seg = pydicom.dcmread(out)
    assert seg.Modality == "SEG" and seg.SegmentSequence[0].SegmentLabel == "liver"
