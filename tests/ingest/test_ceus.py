"""CEUS clips -> ceus.npz / ceus.json (hccrisk.preprocess.ceus.ingest_ceus) on files built in the test."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from hccrisk.errors import InputError
from hccrisk.preprocess.ceus import Injection, ingest_ceus

from .builders import BMODE_BOX, CONTRAST_BOX, INJECTION, contrast_level, write_ceus_study, write_us_clip


def _load(out):
    return dict(np.load(out / "ceus.npz")), json.loads((out / "ceus.json").read_text())


def test_two_clips_give_timeline_phases_gaps_spacing_and_regions(tmp_path):
    paths = write_ceus_study(tmp_path / "dcm", clips=((0.0, 10.0, 700), (90.0, 5.0, 1400)))
    ingest_ceus(paths, tmp_path / "out")
    z, meta = _load(tmp_path / "out")
    T = len(z["times"])
    assert T == 740 and z["times"][-1] == 369.5  # last frame at 90 + 1399 / 5 = 369.8 s
    assert [(z["phase"] == k).sum() for k in (0, 1, 2)] == [61, 180, 480]
    gap = (z["times"] >= 70.0) & (z["times"] < 89.9)
    assert not z["valid"][gap].any() and z["valid"][~gap].all()
    assert (z["source_frame"][gap] == -1).all() and (z["source_sop"][gap] == "").all()
    assert (z["contrast"][gap] == 0).all()
    assert meta["gaps_s"] == [[70.0, 89.5]]
    # the stored frame each sample took: frame index marker in the contrast region's corner
    ok = z["valid"]
    np.testing.assert_array_equal(z["contrast"][ok, 0, 0], z["source_frame"][ok] % 256)
    # grey level follows the generated curve at the sample time (frames are exact in time here)
    np.testing.assert_allclose(z["contrast"][ok, 30, 30], np.floor(contrast_level(z["times"][ok])), atol=1)
    assert z["spacing_mm"].tolist() == pytest.approx([0.3, 0.25])
    assert z["region_origin"].tolist() == [CONTRAST_BOX[0], CONTRAST_BOX[1]]
    assert z["bmode_region_origin"].tolist() == [BMODE_BOX[0], BMODE_BOX[1]]
    assert z["contrast"].shape[1:] == (61, 61) and z["bmode"].shape == z["contrast"].shape
    assert (z["bmode"] != 255).all() and (z["contrast"][:, 4:] != 255).all()  # no burned-in text
    assert meta["contrast_region"]["index"] == 1
    # only the frames the 2 fps timeline needs were decoded
    assert [c["frames_decoded"] for c in meta["clips"]] == [140, 560]


def test_region_override_left_right_and_number(tmp_path):
    paths = write_ceus_study(tmp_path / "dcm", clips=((0.0, 4.0, 1000),))
    for rule, index in (("left", 0), ("right", 1), ("0", 0)):
        out = tmp_path / rule
        ingest_ceus(paths, out, contrast_region=rule)
        z, meta = _load(out)
        assert meta["contrast_region"]["index"] == index
        assert z["region_origin"].tolist() == [(BMODE_BOX, CONTRAST_BOX)[index][0], 12]


def test_rgb_jpeg_baseline_ybr_clip_becomes_the_same_grayscale(tmp_path):
    plain = write_ceus_study(tmp_path / "a", clips=((0.0, 2.0, 250),))
    jpeg = write_ceus_study(tmp_path / "b", clips=((0.0, 2.0, 250),), jpeg=True)
    ingest_ceus(plain, tmp_path / "oa")
    ingest_ceus(jpeg, tmp_path / "ob")
    a, _ = _load(tmp_path / "oa")
    b, meta = _load(tmp_path / "ob")
    assert meta["clips"][0]["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert b["contrast"].dtype == np.uint8 and b["contrast"].ndim == 3
    inner = (slice(None), slice(8, -8), slice(8, -8))  # away from JPEG block edges at the marker
    assert np.abs(a["contrast"][inner].astype(int) - b["contrast"][inner]).max() <= 3


def test_injection_from_bolus_start_time_and_from_the_user(tmp_path):
    start = INJECTION + timedelta(seconds=12)  # recording starts 12 s after the injection
    path = write_us_clip(tmp_path / "c.dcm", start=start, n_frames=3700, frame_time_ms=100.0,
                         bolus_start=INJECTION)
    ingest_ceus([path], tmp_path / "o1", bolus_start=INJECTION)
    z, meta = _load(tmp_path / "o1")
    assert meta["injection"]["source"].startswith("ContrastBolusStartTime")
    assert not z["valid"][z["times"] < 12.0].any() and z["valid"][z["times"] >= 12.0].all()
    # the user's offset wins over the header: injection 2 s before the first frame
    ingest_ceus([path], tmp_path / "o2", injection=Injection(offset_s=-2.0), bolus_start=INJECTION)
    z2, meta2 = _load(tmp_path / "o2")
    assert meta2["injection"]["source"].startswith("--injection-time")
    assert not z2["valid"][z2["times"] < 2.0].any() and z2["valid"][z2["times"] >= 2.0].all()
    clock = Injection(clock=(INJECTION + timedelta(seconds=5)).time())
    ingest_ceus([path], tmp_path / "o3", injection=clock)
    z3, _ = _load(tmp_path / "o3")
    assert z3["times"][z3["valid"]][0] == 7.0


def test_frame_time_vector_and_cine_rate_clips_share_the_timeline(tmp_path):
    n = 3700
    vec = [0.0] + [100.0] * (n - 1)
    a = write_us_clip(tmp_path / "a.dcm", n_frames=n, frame_time_vector=vec, series_uid="1.5.1")
    b = write_us_clip(tmp_path / "b.dcm", n_frames=n, frame_time_ms=None, cine_rate=10.0,
                      series_uid="1.5.2")
    ingest_ceus([a], tmp_path / "oa")
    ingest_ceus([b], tmp_path / "ob")
    za, _ = _load(tmp_path / "oa")
    zb, meta = _load(tmp_path / "ob")
    assert meta["clips"][0]["timing_source"] == "CineRate"
    for key in ("times", "valid", "phase", "source_frame", "contrast"):
        np.testing.assert_array_equal(za[key], zb[key])


def test_a_region_number_that_does_not_exist_is_an_error(tmp_path):
    path = write_us_clip(tmp_path / "c.dcm", n_frames=300, frame_time_ms=500.0, regions=(CONTRAST_BOX,))
    ingest_ceus([path], tmp_path / "ok", contrast_region="0")
    with pytest.raises(InputError, match="--contrast-region: region 3 is not an image region"):
        ingest_ceus([path], tmp_path / "bad", contrast_region="3")
