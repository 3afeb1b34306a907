"""A box SR that records its liver margin (as MONAI Label and `hccrisk roi track --sr` write it): the app
takes the margin off before tracking, so the margin is not added twice."""

from __future__ import annotations

import pytest

from hccrisk.roi.box import CeusBox, expand_box
from operators.roi_core import without_margin

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
