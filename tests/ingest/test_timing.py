"""Frame timing, ultrasound regions and the 2 fps timeline (hccrisk.dicom.us, hccrisk.preprocess.ceus)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hccrisk.dicom.us import frame_offsets_s, ultrasound_regions
from hccrisk.errors import InputError, MissingDataError
from hccrisk.preprocess.ceus import build_timeline, parse_injection, phase_of

from .builders import region_item


def _ds(**kw) -> Dataset:
    ds = Dataset()
    ds.NumberOfFrames = kw.pop("n", 5)
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def test_frame_time_gives_even_offsets():
    offsets, source = frame_offsets_s(_ds(FrameTime=66.667, n=4), "x.dcm")
    assert source == "FrameTime"
    np.testing.assert_allclose(offsets, [0, 0.066667, 0.133334, 0.200001])


def test_frame_time_vector_is_cumulative_and_tolerates_missing_leading_zero():
    full, source = frame_offsets_s(_ds(FrameTimeVector=[0, 100, 50, 150], n=4), "x.dcm")
    short, _ = frame_offsets_s(_ds(FrameTimeVector=[100, 50, 150], n=4), "x.dcm")
    assert source == "FrameTimeVector"
    np.testing.assert_allclose(full, [0, 0.1, 0.15, 0.3])
    np.testing.assert_allclose(short, full)


def test_frame_increment_pointer_chooses_among_attributes():
    ds = _ds(FrameTime=100.0, FrameTimeVector=[0, 50, 50], n=3, FrameIncrementPointer=0x00181063)
    offsets, source = frame_offsets_s(ds, "x.dcm")
    assert source == "FrameTime" and offsets[-1] == pytest.approx(0.2)


def test_cine_rate_is_frames_per_second():
    offsets, source = frame_offsets_s(_ds(CineRate=25, n=3), "x.dcm")
    assert source == "CineRate"
    np.testing.assert_allclose(offsets, [0, 0.04, 0.08])


def test_missing_or_bad_timing_names_the_file():
    with pytest.raises(MissingDataError, match=r"clip\.dcm: no frame timing"):
        frame_offsets_s(_ds(), "clip.dcm")
    with pytest.raises(InputError, match="Frame Time Vector has 2 values for 5 frames"):
        frame_offsets_s(_ds(FrameTimeVector=[0, 10]), "clip.dcm")
    with pytest.raises(InputError, match="not a positive frame timing"):
        frame_offsets_s(_ds(FrameTime=0), "clip.dcm")


def test_regions_use_inclusive_max_and_cm_to_mm():
    ds = Dataset()
    ds.Rows, ds.Columns = 100, 200
    ds.SequenceOfUltrasoundRegions = Sequence([region_item((10, 20, 59, 79), (0.02, 0.04))])
    (r,) = ultrasound_regions(ds, "x.dcm")
    assert (r.x0, r.y0, r.width, r.height) == (10, 20, 50, 60)
    assert r.spacing_mm == pytest.approx((0.4, 0.2))  # (row, column) from (DeltaY, DeltaX)
    frame = np.arange(100 * 200).reshape(100, 200)
    assert r.crop(frame).shape == (60, 50) and r.crop(frame)[0, 0] == frame[20, 10]


def test_region_outside_the_frame_is_an_error():
    ds = Dataset()
    ds.Rows, ds.Columns = 100, 200
    ds.SequenceOfUltrasoundRegions = Sequence([region_item((10, 20, 200, 79))])
    with pytest.raises(InputError, match="outside the 200x100 frame"):
        ultrasound_regions(ds, "x.dcm")


def test_phase_boundaries_give_the_documented_sample_counts():
    times = np.arange(0, 400.5, 0.5)
    phase = phase_of(times)
    assert [(phase == k).sum() for k in (0, 1, 2, -1)] == [61, 180, 480, 80]
    assert phase[times == 30.0][0] == 0 and phase[times == 30.5][0] == 1
    assert phase[times == 120.0][0] == 1 and phase[times == 360.0][0] == 2


def _brute_force(frame_times, t):
    """Reference: the nearest frame of any clip that covers t (see build_timeline), or None."""
    best = None
    for c, ft in enumerate(frame_times):
        dt = np.median(np.diff(ft)) if len(ft) > 1 else 0.5
        i = int(np.argmin(np.abs(ft - t)))
        d = abs(ft[i] - t)
        if t < ft[0] or t > ft[-1]:
            ok = d <= dt / 2 + 1e-6
        else:
            before = ft[ft <= t].max()
            after = ft[ft >= t].min()
            ok = after - before <= 4 * dt + 1e-6
        if ok and (best is None or d < best[0]):
            best = (d, c, i)
    return None if best is None else best[1:]


def test_timeline_matches_brute_force_nearest_frame_with_gaps():
    rng = np.random.default_rng(3)
    jittered = np.cumsum(rng.uniform(0.04, 0.08, 900)) - 2.0  # ~16 fps, starts before t = 0
    jittered[400:] += 3.0  # a 3 s dropout inside the clip
    clips = [jittered,
             95.03 + np.arange(300) / 8.0,
             200.0 + np.arange(100) / 1.0,
             110.0 + np.arange(90) / 3.0]  # overlaps the second clip: the nearest frame wins
    tl = build_timeline(clips)
    assert tl.times[0] == 0 and np.allclose(np.diff(tl.times), 0.5)
    for k, t in enumerate(tl.times):
        ref = _brute_force(clips, t)
        got = None if tl.clip[k] < 0 else (tl.clip[k], tl.frame[k])
        assert got == ref, t
    gaps = tl.gaps()
    assert len(gaps) == 3  # the dropout, then before clip 2, then before clip 3
    assert set(tl.clip[(tl.times > 110) & (tl.times < 132)]) == {1, 3}
    assert jittered[399] < gaps[0][0] and gaps[0][1] < jittered[400]
    assert gaps[1][1] == 94.5 and gaps[-1][1] == 199.0  # clip 3 covers from 199.5 (200 - 0.5 s)


def test_different_frame_rates_give_the_same_timeline():
    a = build_timeline([np.arange(0, 200, 1 / 25.0)])
    b = build_timeline([np.arange(0, 200, 1 / 12.0)])
    c = build_timeline([np.arange(0, 200, 1 / 7.0)])
    for tl in (a, b, c):
        np.testing.assert_array_equal(tl.times, a.times)
        assert tl.valid.all()
    # the frame taken is the nearest: never farther than half the stored interval
    assert np.max(np.abs(c.frame / 7.0 - c.times)) <= 0.5 / 7.0 + 1e-9


def test_injection_time_parsing():
    assert parse_injection("-4.5s").offset_s == -4.5
    assert parse_injection("10:31:05.25").clock.isoformat() == "10:31:05.250000"
    assert parse_injection("103105").clock.isoformat() == "10:31:05"
    with pytest.raises(InputError, match="--injection-time: '25:00' is neither"):
        parse_injection("25:00")


def test_pydicom_reads_only_asked_frames_in_order(tmp_path):
    # the decoder contract decode_regions relies on: iter_pixels(indices) yields those frames in order
    from .builders import write_us_clip

    path = write_us_clip(tmp_path / "c.dcm", n_frames=12)
    got = [int(f[12, 100]) for f in pydicom.pixels.iter_pixels(path, indices=[2, 5, 11])]
    assert got == [2, 5, 11]


def test_gray_conversion_of_rgb_high_bit_and_monochrome1():
    from hccrisk.dicom.us import to_gray_uint8

    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 1] = (77, 77, 77)
    gray = to_gray_uint8(rgb, 8)
    assert gray[0, 0] == 76 and gray[1, 1] == 77 and gray.dtype == np.uint8
    assert to_gray_uint8(np.array([[4095, 16]], np.uint16), 12).tolist() == [[255, 1]]
    assert to_gray_uint8(np.array([[0, 200]], np.uint8), 8, invert=True).tolist() == [[255, 55]]


def test_only_2d_tissue_regions_with_a_size_are_image_regions():
    from hccrisk.dicom.us import Clip, image_regions

    ds = Dataset()
    ds.Rows, ds.Columns = 100, 200
    flow, bar, no_size = region_item((0, 0, 50, 50)), region_item((60, 0, 70, 50)), region_item((80, 0, 99, 50))
    flow.RegionDataType = 2  # colour flow
    bar.RegionDataType = 0x0E  # colour bar
    no_size.PhysicalUnitsXDirection = 0
    ds.SequenceOfUltrasoundRegions = Sequence([flow, bar, no_size, region_item((100, 0, 199, 99))])
    clip = Clip(Path("x"), "1", 1, 100, 200, None, np.zeros(1), "FrameTime", ultrasound_regions(ds, "x"),
                "MONOCHROME2", "", "", 8)
    assert [r.index for r in image_regions(clip)] == [3]
