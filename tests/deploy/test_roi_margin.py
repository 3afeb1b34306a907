"""The app's ROI from the stored box SR (operators.roi_core, SDK-free): the margin an SR records is taken off
by the one rule of hccrisk.roi.box.without_margin (the ingest's reading of the same SR uses it too), so it is
not added twice; the MONAI Label app's per-frame boxes are used as stored (no tracking); a single box is
tracked; a box on the B-mode half of a dual display counts on the contrast half."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox, expand_box, without_margin
from hccrisk.roi.cine import CeusCine
from operators.roi_core import key_boxes, roi_from_sr

SPACING = (0.21, 0.23)  # mm (row, column)
SHAPE = (300, 360)  # (H, W) of the contrast array


@pytest.mark.parametrize("tumour", [CeusBox(100, 80, 160, 130, 7), CeusBox(5, 90, 60, 140, 3), CeusBox(300, 250, 358, 299, 0)])
def test_margin_recorded_in_the_sr_is_taken_off(tumour):
    roi = expand_box(tumour, 5.0, SPACING, SHAPE)
    back = without_margin(roi, 5.0, SPACING, SHAPE)
    assert back.frame == tumour.frame
    for side, clipped in (("x0", roi.x0 == 0), ("y0", roi.y0 == 0), ("x1", roi.x1 == SHAPE[1]), ("y1", roi.y1 == SHAPE[0])):
        if clipped:  # a side the region clipped stays where it is (the tumour box is then a little larger)
            assert getattr(back, side) == getattr(roi, side)
        else:
            assert getattr(back, side) == getattr(tumour, side)


def test_no_recorded_margin_keeps_the_box():
    box = CeusBox(10, 20, 30, 40, 2)
    assert without_margin(box, None, SPACING, SHAPE) == box and without_margin(box, 0.0, SPACING, SHAPE) == box
    with pytest.raises(InputError, match="margin"):
        without_margin(box, -1.0, SPACING, SHAPE)


def moving_cine(n: int = 24, dual: bool = True) -> tuple[CeusCine, list[CeusBox]]:
    """A dual-display cine (80 x 160 regions side by side in the stored frame, B-mode at x 170) whose texture
    drifts right 1 px every 2 samples; sample i was taken from frame 2 i of clip "clip-a"; sample 5 is a gap."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, size=(80, 200), dtype=np.uint8)
    frames = np.stack([texture[:, 20 - i // 2:180 - i // 2] for i in range(n)])
    valid = np.ones(n, bool)
    valid[5] = False
    truth = [CeusBox(70 + i // 2, 30, 85 + i // 2, 45, i) for i in range(n)]  # drifts with the texture
    cine = CeusCine(contrast=frames, times=np.arange(n) * 0.5, valid=valid, source_sop=np.array(["clip-a"] * n),
                    source_frame=np.arange(n) * 2, spacing_mm=np.array([0.5, 0.5]), region_origin=np.array([0, 0]),
                    bmode=frames.copy() if dual else None, bmode_region_origin=np.array([170, 0]) if dual else None)
    return cine, truth


def test_per_frame_boxes_are_used_as_stored_and_one_box_is_tracked():
    cine, truth = moving_cine()
    # As the label app stores it: the margined box on EVERY stored frame; the odd frames, which the timeline
    # did not take, carry a box 9 px off (so using one of them would show).
    stored = []
    for f in range(2 * len(truth)):
        tumour = truth[f // 2] if f % 2 == 0 else truth[f // 2].shifted(9, 9)
        stored.append((replace(expand_box(tumour, 5.0, (0.5, 0.5), cine.shape), frame=f), "clip-a"))
    roi = roi_from_sr(cine, stored, 5.0, "sr.dcm")
    assert roi.n_tracked == 0 and roi.n_keys == int(cine.valid.sum()) and roi.n_sr_boxes == 2 * len(truth)
    v = np.flatnonzero(cine.valid)
    np.testing.assert_array_equal(roi.track.boxes[v], np.array([truth[i].as_array() for i in v]))
    # One box on one frame: tracked over the cine (here on the B-mode half, where it was drawn).
    box, _ = stored[20]
    one = roi_from_sr(cine, [(box.shifted(170, 0), "clip-a")], 5.0, "sr.dcm")
    assert one.n_keys == 1 and one.n_tracked == len(v) - 1
    np.testing.assert_array_equal(one.track.boxes[v], np.array([truth[i].as_array() for i in v]))


def test_a_box_on_a_frame_the_timeline_skipped_goes_to_the_nearest_sample():
    cine, truth = moving_cine()
    keys = key_boxes(cine, [(replace(truth[8], frame=17), "clip-a")], None, "sr.dcm")
    assert keys == {8: replace(truth[8], frame=8)}  # frame 17: samples 8 (frame 16) and 9 (18) are as near
    with pytest.raises(InputError, match="none of the SR's boxes"):
        key_boxes(cine, [(truth[3], "another-clip")], None, "sr.dcm")
    with pytest.raises(InputError, match="outside"):
        key_boxes(cine, [(CeusBox(1000, 0, 1010, 10, 0), "clip-a")], None, "sr.dcm")
