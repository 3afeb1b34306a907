"""CEUS boxes: a rectangle in the ingested contrast-array pixel frame, made from a drawn rectangle or a
rough outline, enlarged by a liver margin in mm and clipped to the contrast region.

Pixel convention (as ``ceus_tumour.csv`` and docs/architecture.md): ``x`` = column, ``y`` = row,
``x0, y0`` inclusive, ``x1, y1`` exclusive, so the box covers ``array[y0:y1, x0:x1]``. The ingested
arrays are the contrast region cut out of the stored frame; a stored-frame pixel (X, Y) is array pixel
(X - region_origin[0], Y - region_origin[1]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from hccrisk.errors import InputError

#: liver margins of the papers, mm (SPEC section 2)
MARGIN_MM = {"liu2025": 5.0, "liu2020": 10.0}


@dataclass(frozen=True)
class CeusBox:
    """A rectangle on one sample of the 2 fps cine: pixels ``[y0:y1, x0:x1]`` of sample ``frame``."""

    x0: int
    y0: int
    x1: int
    y1: int
    frame: int = 0

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise InputError("CEUS box", f"empty or inverted box x {self.x0}..{self.x1}, y {self.y0}..{self.y1} "
                                         "(need x1 > x0 and y1 > y0, x1/y1 exclusive)")

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def centre(self) -> tuple[float, float]:
        """(x, y) centre in pixels."""
        return (self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0

    def as_array(self) -> np.ndarray:
        """(4,) int: x0, y0, x1, y1."""
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.int64)

    def shifted(self, dx: int, dy: int, frame: int | None = None) -> CeusBox:
        """The same box moved by (dx, dy) pixels (optionally on another frame)."""
        return CeusBox(self.x0 + dx, self.y0 + dy, self.x1 + dx, self.y1 + dy,
                       self.frame if frame is None else frame)

    def contains(self, other: CeusBox) -> bool:
        """True when ``other`` lies entirely inside this box."""
        return (self.x0 <= other.x0 and self.y0 <= other.y0 and self.x1 >= other.x1
                and self.y1 >= other.y1)


def box_from_outline(points: Sequence[Sequence[float]] | np.ndarray, frame: int = 0) -> CeusBox:
    """The box through the outline's top/bottom/left/right extremes.

    Args:
        points: (N, 2) outline vertices (x, y) in pixel coordinates (pixel centres), N >= 3.
        frame: the sample the outline was drawn on.
    Returns:
        the smallest box holding every pixel an extreme point falls in (x1 = floor(max x) + 1).
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.all(np.isfinite(pts)):
        raise InputError("CEUS outline", f"need >= 3 finite (x, y) points, got array of shape {pts.shape}")
    lo = np.floor(pts.min(axis=0)).astype(int)
    hi = np.floor(pts.max(axis=0)).astype(int) + 1
    return CeusBox(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]), frame)


def expand_box(box: CeusBox, margin_mm: float, spacing_mm: Sequence[float],
               bounds: tuple[int, int]) -> CeusBox:
    """Enlarge a box by a margin in mm on every side and clip it to the contrast region.

    Args:
        box: the tumour box.
        margin_mm: liver margin (5 mm liu2025, 10 mm liu2020); 0 only clips.
        spacing_mm: (row, column) pixel size in mm, as ``ceus.npz['spacing_mm']``.
        bounds: (H, W) of the contrast array; the result stays inside ``[0, W) x [0, H)``.
    Returns:
        the enlarged box; each side moves out by ceil(margin / pixel size) pixels, so the margin is
        at least ``margin_mm`` wherever the region allows.
    """
    if margin_mm < 0 or not math.isfinite(margin_mm):
        raise InputError("CEUS box margin", f"margin must be a finite number of mm >= 0, got {margin_mm}")
    sy, sx = (float(s) for s in spacing_mm)
    if not (sy > 0 and sx > 0):
        raise InputError("CEUS pixel spacing", f"spacing must be positive mm, got {tuple(spacing_mm)}")
    mx = math.ceil(margin_mm / sx - 1e-9)
    my = math.ceil(margin_mm / sy - 1e-9)
    return clip_box(CeusBox(box.x0 - mx, box.y0 - my, box.x1 + mx, box.y1 + my, box.frame), bounds)


def without_margin(box: CeusBox, margin_mm: float | None, spacing_mm: Sequence[float],
                   bounds: tuple[int, int]) -> CeusBox:
    """The tumour box inside a box that ``expand_box`` enlarged by ``margin_mm`` (a box SR that records its
    margin: MONAI Label, ``hccrisk roi track --sr``): ``ceil(margin / pixel size)`` pixels off each side, as
    ``expand_box`` added them; a side on the region's edge was clipped there and is kept.

    Args:
        box: the margined box, in pixels of the (H, W) region ``bounds`` (the contrast array; for a box in
            stored-frame pixels, shift it by the region's origin first).
        margin_mm: the recorded margin; None or 0 returns ``box`` unchanged.
        spacing_mm: (row, column) pixel size in mm.
    Returns:
        the tumour box (at least 1 pixel wide and high), same frame.
    """
    if not margin_mm:
        return box
    if margin_mm < 0 or not math.isfinite(margin_mm):
        raise InputError("CEUS box margin", f"margin must be a finite number of mm >= 0, got {margin_mm}")
    my, mx = (math.ceil(margin_mm / float(s) - 1e-9) for s in spacing_mm)
    h, w = bounds
    x0 = box.x0 if box.x0 <= 0 else box.x0 + mx
    y0 = box.y0 if box.y0 <= 0 else box.y0 + my
    x1 = box.x1 if box.x1 >= w else box.x1 - mx
    y1 = box.y1 if box.y1 >= h else box.y1 - my
    return CeusBox(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), box.frame)


def clip_box(box: CeusBox, bounds: tuple[int, int]) -> CeusBox:
    """The part of ``box`` inside an (H, W) array; InputError when nothing is left."""
    h, w = bounds
    x0, y0 = max(box.x0, 0), max(box.y0, 0)
    x1, y1 = min(box.x1, w), min(box.y1, h)
    if x1 <= x0 or y1 <= y0:
        raise InputError("CEUS box", f"box x {box.x0}..{box.x1}, y {box.y0}..{box.y1} lies outside the "
                                     f"{h} x {w} contrast region")
    return replace(box, x0=x0, y0=y0, x1=x1, y1=y1)


def stored_to_array(box: CeusBox, region_origin: Sequence[int]) -> CeusBox:
    """A box in stored-frame pixels (e.g. drawn on the DICOM frame) -> the ingested array's pixels."""
    ox, oy = int(region_origin[0]), int(region_origin[1])
    return box.shifted(-ox, -oy)


def array_to_stored(box: CeusBox, region_origin: Sequence[int]) -> CeusBox:
    """A box in the ingested array's pixels -> stored-frame pixels of the source DICOM frame."""
    ox, oy = int(region_origin[0]), int(region_origin[1])
    return box.shifted(ox, oy)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (..., 4) = x0, y0, x1, y1 (exclusive ends), elementwise."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda q: (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def contains(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Whether each box (..., 4) of ``outer`` holds the matching box of ``inner`` entirely."""
    o, i = np.asarray(outer), np.asarray(inner)
    return (o[..., 0] <= i[..., 0]) & (o[..., 1] <= i[..., 1]) & (o[..., 2] >= i[..., 2]) & (o[..., 3] >= i[..., 3])
