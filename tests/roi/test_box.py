import numpy as np
import pytest

from hccrisk.errors import InputError
from hccrisk.roi.box import (CeusBox, array_to_stored, box_from_outline, contains, expand_box, iou,
                             stored_to_array)


def test_outline_extremes_give_the_box():
    # A diamond: its extreme points are the midpoints of the box sides.
    pts = [(10.0, 20.4), (15.2, 25.0), (10.0, 30.9), (4.7, 25.0)]
    assert box_from_outline(pts, frame=7) == CeusBox(4, 20, 16, 31, 7)


def test_outline_needs_three_points():
    with pytest.raises(InputError, match="3 finite"):
        box_from_outline([(1, 2), (3, 4)])


def test_margin_in_mm_uses_each_axis_spacing_and_clips_to_the_region():
    box = CeusBox(40, 30, 60, 50)
    # 5 mm at 0.5 mm rows / 1.25 mm columns: 10 rows, 4 columns each side.
    assert expand_box(box, 5.0, (0.5, 1.25), (100, 100)) == CeusBox(36, 20, 64, 60)
    # 10 mm at 1.59 mm pixels: ceil(6.29) = 7 px, so the margin is never less than asked.
    assert expand_box(box, 10.0, (1.59, 1.59), (100, 100)) == CeusBox(33, 23, 67, 57)
    # Clipped to an 88 x 112 region.
    assert expand_box(CeusBox(2, 80, 10, 86), 10.0, (1.59, 1.59), (88, 112)) == CeusBox(0, 73, 17, 88)


def test_bad_boxes_and_margins_are_named():
    with pytest.raises(InputError, match="empty or inverted"):
        CeusBox(10, 10, 5, 20)
    with pytest.raises(InputError, match="outside"):
        expand_box(CeusBox(200, 200, 210, 210), 5.0, (1.0, 1.0), (88, 112))
    with pytest.raises(InputError, match="margin"):
        expand_box(CeusBox(1, 1, 5, 5), -1.0, (1.0, 1.0), (88, 112))


def test_stored_and_array_pixels_round_trip():
    box = CeusBox(196, 45, 211, 62, 3)
    arr = stored_to_array(box, (128, 16))
    assert arr == CeusBox(68, 29, 83, 46, 3)
    assert array_to_stored(arr, (128, 16)) == box


def test_iou_and_containment():
    a = np.array([0, 0, 10, 10])
    assert iou(a, a) == 1.0
    assert iou(a, [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou(a, [20, 20, 30, 30]) == 0.0
    assert contains(a, [1, 1, 9, 10]) and not contains(a, [1, 1, 9, 11])
