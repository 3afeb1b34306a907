"""Heatmap secondary captures: valid (dciodvfy), RGB, in the source study, stable UIDs."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from hccrisk.errors import InputError
from hccrisk.results.sc import overlay_rgb, write_heatmap_sc
from tests.results.conftest import dciodvfy


def _frame_and_heat(path):
    pixels = pydicom.dcmread(path).pixel_array
    frame = pixels[0] if pixels.ndim >= 3 and pixels.shape[-1] != 3 else pixels
    frame = frame[..., 0] if frame.ndim == 3 else frame
    yy, xx = np.mgrid[:frame.shape[0], :frame.shape[1]]
    heat = np.exp(-((yy - frame.shape[0] / 2) ** 2 + (xx - frame.shape[1] / 3) ** 2) / 200.0)
    return frame, heat


@pytest.mark.parametrize("modality", ["ceus", "mri"])
def test_sc_valid_in_source_study(request, tmp_path, modality):
    files = request.getfixturevalue(f"{modality}_files")
    frame, heat = _frame_and_heat(files[0])
    path = write_heatmap_sc(frame, heat, files[0], tmp_path / "sc.dcm", model_name="ceus_mp", model_version="0.1.0")
    errors, _ = dciodvfy(path)
    assert errors == []
    sc = hd.imread(path)
    src = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert sc.StudyInstanceUID == src.StudyInstanceUID and sc.PatientID == src.PatientID
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert sc.PhotometricInterpretation == "RGB" and sc.pixel_array.shape == (*frame.shape, 3)
    np.testing.assert_array_equal(sc.pixel_array, overlay_rgb(frame, heat))


def test_overlay_colours_only_where_hot():
    image = np.tile(np.arange(8, dtype=float), (8, 1))
    heat = np.zeros((8, 8))
    heat[2, 3] = 1.0
    rgb = overlay_rgb(image, heat)
    gray = rgb[..., 0] == rgb[..., 1]
    assert gray.sum() == 63 and not gray[2, 3]  # untouched grey everywhere except the hot pixel


def test_stable_uids(ceus_files, tmp_path):
    frame, heat = _frame_and_heat(ceus_files[0])
    kw = dict(model_name="ceus_mp", model_version="0.1.0")
    a = pydicom.dcmread(write_heatmap_sc(frame, heat, ceus_files[0], tmp_path / "a.dcm", frame=3, **kw))
    b = pydicom.dcmread(write_heatmap_sc(frame, heat * 2, ceus_files[0], tmp_path / "b.dcm", frame=3, **kw))
    c = pydicom.dcmread(write_heatmap_sc(frame, heat, ceus_files[0], tmp_path / "c.dcm", frame=4, **kw))
    assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
    assert a.SeriesInstanceUID == c.SeriesInstanceUID


def test_shape_mismatch_rejected(ceus_files, tmp_path):
    with pytest.raises(InputError, match="same shape"):
        write_heatmap_sc(np.zeros((4, 4)), np.zeros((4, 5)), ceus_files[0], tmp_path / "x.dcm",
                         model_name="m", model_version="1")
