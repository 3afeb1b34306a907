"""SDK-free part of the CEUS ROI step (importable and testable without the MONAI Deploy SDK)."""

from __future__ import annotations

import math
from typing import Sequence

from hccrisk.roi.box import CeusBox


def without_margin(box: CeusBox, margin_mm: float | None, spacing_mm: Sequence[float],
                   shape: tuple[int, int]) -> CeusBox:
    """The tumour box of a box SR that records a liver margin (MONAI Label, ``hccrisk roi track --sr``
    write the margined box): ``ceil(margin / pixel size)`` pixels off each side, as
    ``hccrisk.roi.io`` reads such SRs; a side on the region's edge was clipped there and is kept.
    ``box`` in contrast-array pixels, ``shape`` (H, W) of the array, ``spacing_mm`` (row, column)."""
    if not margin_mm:
        return box
    my, mx = (math.ceil(margin_mm / float(s) - 1e-9) for s in spacing_mm)
    h, w = shape
    x0 = box.x0 if box.x0 <= 0 else box.x0 + mx
    y0 = box.y0 if box.y0 <= 0 else box.y0 + my
    x1 = box.x1 if box.x1 >= w else box.x1 - mx
    y1 = box.y1 if box.y1 >= h else box.y1 - my
    return CeusBox(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), box.frame)
