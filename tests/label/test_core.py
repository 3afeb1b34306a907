"""The label app's image logic (apps/hccrisk_label/lib/ceus.py, mri.py) on images with a known answer.
Runs in the main venv: these modules import hccrisk.roi and SimpleITK only, not MONAI Label."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hccrisk.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "apps" / "hccrisk_label"))
from lib.ceus import (box_from_clicks, box_from_label, boxes_from_mask, cine_from_frames, paint_stored,  # noqa: E402
                      propagate_box)
from lib.mri import seeded_tumour  # noqa: E402


def _moving_blob_cine(n: int = 40, h: int = 96, w: int = 120, seed: int = 0):
    """A textured tissue background with a bright disk, both drifting 0.5 px per frame to the right and
    breathing up and down; returns frames (T, H, W) uint8 and the disk's true boxes (T, 4)."""
    rng = np.random.default_rng(seed)
    from scipy import ndimage
    tissue = ndimage.gaussian_filter(rng.normal(size=(h + 40, w + 60)), 2.0)
    tissue = (tissue - tissue.min()) / np.ptp(tissue)
    frames, boxes = [], []
    yy, xx = np.mgrid[0:h, 0:w]
    for t in range(n):
        dx, dy = int(round(0.5 * t)), int(round(3 * np.sin(t / 5)))
        img = tissue[20 + dy:20 + dy + h, 10 + dx:10 + dx + w] * 120
        cx, cy, r = 50 - dx, 45 - dy, 9
        img = img + 100 * ((xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2)
        frames.append(np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8))
        boxes.append((cx - r, cy - r, cx + r + 1, cy + r + 1))
    return np.stack(frames), np.array(boxes)


def test_ceus_box_from_corner_clicks_follows_the_tumour_with_margin():
    frames, truth = _moving_blob_cine()
    cine = cine_from_frames(frames, spacing_mm=(1.0, 1.0))  # small pixels would put the 15 mm rim off the image
    k = 10
    x0, y0, x1, y1 = truth[k]
    box = box_from_clicks([[x0, y0, k], [x1 - 1, y1 - 1, k]], n_frames=len(frames))
    assert (box.x0, box.y0, box.x1, box.y1, box.frame) == (x0, y0, x1, y1, k)
    track, mask = propagate_box(cine, box, margin_mm=5.0)
    assert mask.shape == frames.shape and mask.dtype == np.uint8
    inside = [mask[t, truth[t, 1]:truth[t, 3], truth[t, 0]:truth[t, 2]].all() for t in range(len(frames))]
    assert np.mean(inside) >= 0.98
    # the margin: 5 mm at 1 mm pixels = 5 px on each side of the tracked box
    bx0, by0, bx1, by1 = track.boxes[k]
    assert mask[k].sum() == (bx1 - bx0 + 10) * (by1 - by0 + 10)
    # the box does move with the tumour (a box left where drawn would not fit frame 39)
    assert abs(track.boxes[-1, 0] - truth[-1, 0]) <= 1


def test_ceus_box_from_a_label_on_one_frame():
    label = np.zeros((5, 20, 30), np.uint8)
    label[2, 4:9, 10:17] = 1
    b = box_from_label(label)
    assert (b.x0, b.y0, b.x1, b.y1, b.frame) == (10, 4, 17, 9, 2)
    label[3, 0, 0] = 1
    with pytest.raises(InputError, match="exactly one frame"):
        box_from_label(label)


def test_ceus_bad_clicks_and_margin_are_named():
    with pytest.raises(InputError, match="one frame"):
        box_from_clicks([[1, 1, 0], [5, 5, 1]], n_frames=3)
    with pytest.raises(InputError, match="outside the cine"):
        box_from_clicks([[1, 1, 7], [5, 5, 7]], n_frames=3)
    frames, truth = _moving_blob_cine(n=5)
    cine = cine_from_frames(frames, spacing_mm=(0.5, 0.5))
    with pytest.raises(InputError, match="margin"):
        propagate_box(cine, box_from_clicks([[40, 40, 0], [50, 50, 0]], 5), margin_mm=3.0)


def test_mri_seeded_tumour_matches_a_known_sphere():
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[0:40, 0:64, 0:64]
    sphere = (x - 30) ** 2 + (y - 34) ** 2 + ((z - 20) * 2.0) ** 2 <= 10 ** 2   # 2 mm slices, r 10 mm
    liver = (x - 32) ** 2 + (y - 32) ** 2 <= 28 ** 2
    arr = 100.0 * liver + 80.0 * sphere + rng.normal(0, 8, sphere.shape)
    image = sitk.GetImageFromArray(arr.astype(np.float32))
    image.SetSpacing((1.0, 1.0, 2.0))
    mask = seeded_tumour(image, [[30, 34, 20], [33, 36, 21]])
    got = sitk.GetArrayFromImage(mask) > 0
    dice = 2 * (got & sphere).sum() / (got.sum() + sphere.sum())
    assert dice > 0.9, dice
    assert mask.GetSpacing() == image.GetSpacing()
    with pytest.raises(InputError, match="inside the volume"):
        seeded_tumour(image, [[100, 1, 1]])


def test_dual_display_cine_tracks_on_the_bmode_half_and_paints_both_halves():
    from hccrisk.dicom.us import UltrasoundRegion
    from lib.ceus import cine_from_stored_frames, clicks_to_region, paint_stored

    tissue, truth = _moving_blob_cine(n=30)
    t = np.arange(30)
    # contrast half: dark, then filling (the region whose intensity rises); B-mode half: the tissue as is
    contrast = (tissue * np.clip(t / 10, 0.1, 1.0)[:, None, None]).astype(np.uint8)
    frames = np.zeros((30, 100, 250), np.uint8)
    frames[:, 2:98, 4:124], frames[:, 2:98, 128:248] = tissue, contrast
    regions = [UltrasoundRegion(0, 4, 2, 120, 96, 1, 1, 0, (1.0, 1.0)),
               UltrasoundRegion(1, 128, 2, 120, 96, 1, 1, 0, (1.0, 1.0))]
    cine, c, b = cine_from_stored_frames(frames, regions, t * 0.5)
    assert (c.x0, b.x0) == (128, 4)  # the rising region is the contrast one
    assert cine.bmode is not None and np.array_equal(cine.bmode, tissue)
    k = 12
    x0, y0, x1, y1 = truth[k]
    # clicks on the B-mode half land on the same place in the contrast region
    clicks = clicks_to_region([[x0 + 4, y0 + 2, k], [x1 + 3, y1 + 1, k]], c, b)
    assert clicks == [[x0, y0, k], [x1 - 1, y1 - 1, k]]
    track, mask = propagate_box(cine, box_from_clicks(clicks, 30), margin_mm=5.0)
    assert track.source == "bmode"
    np.testing.assert_array_equal(track.boxes, truth)
    stored = paint_stored(mask, frames.shape[1:], [c, b])
    assert np.array_equal(stored[:, 2:98, 128:248], mask) and np.array_equal(stored[:, 2:98, 4:124], mask)
    assert stored.sum() == 2 * mask.sum()


def test_ceus_correction_changes_its_frame_and_later_ones_only():
    from lib.ceus import corrections_from_params

    frames, truth = _moving_blob_cine()
    cine = cine_from_frames(frames, spacing_mm=(1.0, 1.0))
    x0, y0, x1, y1 = truth[5]
    box = box_from_clicks([[x0, y0, 5], [x1 - 1, y1 - 1, 5]], len(frames))
    plain, _ = propagate_box(cine, box, 5.0)
    # the user moves the box 3 px right on frame 20 (say the track had slipped there)
    c = truth[20] + [3, 0, 3, 0]
    fixed, mask = propagate_box(cine, box, 5.0, corrections_from_params([[*c, 20]], len(frames)))
    np.testing.assert_array_equal(fixed.boxes[:20], plain.boxes[:20])
    np.testing.assert_array_equal(fixed.boxes[20], c)
    assert mask[20, c[1]:c[3], c[0] - 5:c[2] + 5].all()
    with pytest.raises(InputError, match="x0, y0, x1, y1, frame"):
        corrections_from_params([[1, 2, 3, 4]], len(frames))


def test_single_display_cine_tracks_on_the_contrast_region():
    from hccrisk.dicom.us import UltrasoundRegion
    from lib.ceus import cine_from_stored_frames, clicks_to_region

    tissue, truth = _moving_blob_cine(n=30)
    frames = np.zeros((30, 110, 140), np.uint8)
    frames[:, 10:106, 16:136] = tissue
    region = UltrasoundRegion(0, 16, 10, 120, 96, 1, 1, 0, (1.0, 1.0))
    cine, c, b = cine_from_stored_frames(frames, [region], np.arange(30) * 0.5)
    assert b is None and cine.bmode is None and tuple(cine.region_origin) == (16, 10)
    x0, y0, x1, y1 = truth[3]
    clicks = clicks_to_region([[x0 + 16, y0 + 10, 3], [x1 + 15, y1 + 9, 3]], c, b)
    track, _ = propagate_box(cine, box_from_clicks(clicks, 30), margin_mm=10.0)
    assert track.source == "contrast"
    assert np.mean([(abs(track.boxes[t] - truth[t]) <= 1).all() for t in range(30)]) >= 0.95


@pytest.fixture(scope="module")
def multi_clip_series(tmp_path_factory) -> tuple[Path, Path]:
    """(cohort, folder of a CEUS series of 5 clips): seed 0 CEUS-only, SYN0002."""
    from hccrisk.synth.cohort import generate_cohort
    from lib.images import us_clips

    cohort = tmp_path_factory.mktemp("multi_clip") / "c"
    generate_cohort(cohort, n_patients=2, seed=0, modality="ceus", workers=1, progress=False)
    return cohort, next(p.parent for p in (cohort / "dicom").rglob("*") if p.is_file() and len(us_clips(p.parent)) > 1)


def test_multi_clip_series_becomes_one_cine_and_the_box_follows_the_tumour_across_clips(multi_clip_series, tmp_path):
    """A synthetic patient whose CEUS series has 5 clips (seed 0, SYN0002): one NIfTI of all frames in
    acquisition order, times from each clip's acquisition time, and the box tracked over every clip."""
    import csv

    from lib.ceus import cine_from_stored_frames, clicks_to_region
    from lib.images import us_clips, us_geometry, write_clips_nifti

    cohort, folder = multi_clip_series
    clips = us_clips(folder)
    out = tmp_path / "cine.nii.gz"
    assert write_clips_nifti(folder, out)
    frames = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    regions, times, starts = us_geometry(folder)
    assert len(frames) == len(times) == sum(int(ds.NumberOfFrames) for _, ds in clips)
    assert np.all(np.diff(times) > 0) and len(starts) == len(clips)
    pid = str(clips[0][1].PatientID)
    with (cohort / "rois" / "observer1" / pid / "ceus_tumour.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    order = {str(ds.SOPInstanceUID): s for (_, ds), s in zip(clips, starts)}
    truth = np.zeros((len(frames), 4), int)
    for r in rows:
        truth[order[r["sop_instance_uid"]] + int(r["frame"])] = [int(r[c]) for c in ("x0", "y0", "x1", "y1")]
    cine, c, b = cine_from_stored_frames(frames if frames.ndim == 3 else frames.mean(axis=-1), regions, times,
                                         clip_starts=starts)
    k = int(np.argmin(np.abs(times - 25.0)))
    clicks = clicks_to_region([[truth[k, 0], truth[k, 1], k], [truth[k, 2] - 1, truth[k, 3] - 1, k]], c, b)
    track, mask = propagate_box(cine, box_from_clicks(clicks, len(frames)), margin_mm=5.0)
    boxes = track.boxes + [c.x0, c.y0, c.x0, c.y0]
    later = starts[1]  # the first frame of the second clip, after the probe moved
    assert abs(boxes[later] - truth[later]).max() <= 3
    inside = [mask[t, truth[t, 1] - c.y0:truth[t, 3] - c.y0, truth[t, 0] - c.x0:truth[t, 2] - c.x0].all()
              for t in range(len(frames))]
    print(f"multi-clip: {len(clips)} clips, {len(frames)} frames, source {track.source}, "
          f"tumour inside the 5 mm box on {100 * np.mean(inside):.1f} %")
    assert np.mean(inside) >= 0.98


def test_saved_label_back_to_stored_frame_boxes_in_the_contrast_region():
    """What the datastore writes into the box SR: per frame, the label's box inside the contrast region
    (stored-frame pixels), the B-mode copy of a dual display ignored, empty frames skipped."""
    from hccrisk.dicom.us import UltrasoundRegion

    contrast = UltrasoundRegion(0, 100, 10, 80, 60, 1, 1, 0, (0.2, 0.2))
    bmode = UltrasoundRegion(1, 5, 10, 80, 60, 1, 1, 0, (0.2, 0.2))
    region_mask = np.zeros((3, 60, 80), np.uint8)
    region_mask[0, 20:30, 40:55] = 1
    region_mask[2, 5:9, 0:4] = 1  # on the region's edge
    stored = paint_stored(region_mask, (80, 200), [contrast, bmode])
    got = boxes_from_mask(stored, contrast)
    assert [f for f, _ in got] == [0, 2]
    b0, b2 = got[0][1], got[1][1]
    assert (b0.x0, b0.y0, b0.x1, b0.y1, b0.frame) == (140, 30, 155, 40, 0)
    assert (b2.x0, b2.y0, b2.x1, b2.y1) == (100, 15, 104, 19)


def test_multi_clip_cine_volume_is_valid_dicom_and_maps_back_to_the_stored_frames(multi_clip_series, tmp_path):
    """The pseudo-volume OHIF's MONAI Label mode shows (hccrisk.roi.cine_volume, lib/cine_volumes.py): the
    cine's frames at 2 fps, each one a stored frame of its clip (pixels equal, gray), evenly spaced plane
    positions, dciodvfy without errors, read back by highdicom; its source references give the cine frames."""
    import shutil
    import subprocess

    import highdicom as hd
    import pydicom

    from hccrisk.roi.cine_volume import cine_frame_index, read_cine_volume
    from lib.cine_volumes import write_series_volume, write_volume_nifti
    from lib.images import us_clips, us_geometry

    _, folder = multi_clip_series
    paths = write_series_volume(folder, tmp_path / "volume", "1.2.826.0.1.3680043.8.498.1")
    clips = us_clips(folder)
    _, times, starts = us_geometry(folder)
    sources = read_cine_volume(paths[::-1])  # any order: Instance Number decides
    index = cine_frame_index(sources, [str(ds.SOPInstanceUID) for _, ds in clips], starts)
    # 2 fps: one frame per 0.5 s of the cine, each the stored frame nearest its time, no frame twice
    assert len(index) == len(paths) and np.all(np.diff(index) > 0) and np.all(np.diff(times[index]) > 0.25)
    ends = list(starts[1:]) + [len(times)]
    covered_s = sum(times[e - 1] - times[b] for b, e in zip(starts, ends))  # no frame in the gaps between clips
    assert abs(len(index) - 2 * covered_s) <= 2 * len(clips)
    clip_px = {str(ds.SOPInstanceUID): pydicom.dcmread(p).pixel_array for p, ds in clips}
    for k in (0, len(index) // 2, len(index) - 1):
        image = hd.imread(str(paths[k]))
        stored = clip_px[sources.sop_uids[k]][sources.frames[k]]
        stored = np.round(stored[..., :3].mean(axis=-1)) if stored.ndim == 3 else stored
        assert np.array_equal(image.get_frame(1), stored.astype(np.uint8))
    positions = [float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in paths]
    assert np.allclose(np.diff(positions), np.diff(positions)[0]) and np.diff(positions)[0] > 0
    with pytest.raises(InputError, match="not an hccrisk CEUS cine volume"):
        read_cine_volume([clips[0][0]])  # the cine itself
    nifti = tmp_path / "v.nii.gz"
    assert write_volume_nifti(paths[0].parent, nifti)
    assert sitk.ReadImage(str(nifti)).GetSize() == (int(image.Columns), int(image.Rows), len(index))
    if shutil.which("dciodvfy"):
        for p in (paths[0], paths[-1]):
            report = subprocess.run(["dciodvfy", str(p)], capture_output=True, text=True).stderr
            assert not [line for line in report.splitlines() if line.startswith("Error")], report
    print(f"cine volume: {len(clips)} clips, {len(times)} stored frames -> {len(index)} images at 2 fps")
