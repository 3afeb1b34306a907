"""The --realistic preset: full-resolution frames at 15-25 fps (one patient; slow)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.pixels import pixel_array

from hccrisk.synth.ceus import LAYOUTS, VENDORS, write_ceus_study
from hccrisk.synth.latent import draw_latents


@pytest.mark.slow
def test_realistic_jpegls_clips_are_valid_and_full_size(tmp_path):
    p = dataclasses.replace(draw_latents(1, 3)[0], vendor="B")  # B is JPEG-LS lossless only here
    res = write_ceus_study(p, tmp_path / "dicom", tmp_path / "roi", "realistic", p.rng("ceus"))
    first = pydicom.dcmread(res["files"][0], stop_before_pixels=True)
    L = LAYOUTS["realistic"]
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.JPEGLSLossless
    assert (first.Rows, first.Columns) == (L.banner + L.rows + L.bottom, 2 * L.side + L.cols)
    intervals = np.array([float(v) for v in first.FrameTimeVector[1:]])
    assert abs(1000.0 / intervals.mean() - VENDORS["B"].fps["realistic"]) < 1.0
    n = int(first.NumberOfFrames)
    frame = pixel_array(res["files"][0], index=n - 1)
    assert frame.shape == (first.Rows, first.Columns)
    roi = pd.read_csv(tmp_path / "roi" / "ceus_tumour.csv")
    assert len(roi) == res["n_frames"] and roi.time_s.max() >= 330
    if shutil.which("dciodvfy"):
        out = subprocess.run(["dciodvfy", res["files"][-1]], capture_output=True, text=True)
        assert not [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
