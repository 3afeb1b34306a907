"""What the models take from a tracked CEUS box: the spatio-temporal ROI (resized crops of every sample,
liu2025 / liu2020) and huang2022's single frames (the peak-enhancement frame from the lesion's
time-intensity curve over 0-360 s, and the grayscale frame)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from hccrisk.errors import InputError
from hccrisk.roi.cine import CeusCine

TIC_WINDOW_S = (0.0, 360.0)  #: huang2022: the time-intensity curve over 0-360 s


def _check_boxes(boxes: np.ndarray, n: int, shape: tuple[int, int]) -> np.ndarray:
    boxes = np.asarray(boxes)
    if boxes.shape != (n, 4):
        raise InputError("CEUS box track", f"need ({n}, 4) boxes for {n} samples, got {boxes.shape}")
    h, w = shape
    b = boxes.astype(np.int64)
    bad = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > w) | (b[:, 3] > h) | (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
    if bad.any():
        raise InputError("CEUS box track", f"{int(bad.sum())} boxes empty or outside the {h} x {w} region "
                                           f"(first at sample {int(np.flatnonzero(bad)[0])})")
    return b


def crop_box_cine(cine: np.ndarray, boxes: np.ndarray, size: tuple[int, int] = (64, 64),
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Cut every sample's box out of the cine and resize it (bilinear) to one size.

    Args:
        cine: (T, H, W) images (e.g. ``CeusCine.contrast``), any numeric type.
        boxes: (T, 4) x0, y0, x1, y1 per sample (``BoxTrack.boxes`` or ``.expanded(margin_mm)``).
        size: (rows, cols) of each crop.
        valid: (T,) bool; invalid samples (gaps) give all-zero crops.
    Returns:
        (T, rows, cols) float32 in the cine's intensity units.
    """
    cine = np.asarray(cine)
    if cine.ndim != 3:
        raise InputError("CEUS cine", f"need a (T, H, W) array, got shape {cine.shape}")
    b = _check_boxes(boxes, len(cine), cine.shape[1:])
    rows, cols = (int(s) for s in size)
    if rows < 1 or cols < 1:
        raise InputError("crop size", f"need positive (rows, cols), got {size}")
    out = np.zeros((len(cine), rows, cols), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(b):
        if valid is not None and not valid[i]:
            continue
        crop = cine[i, y0:y1, x0:x1].astype(np.float32)
        out[i] = ndimage.zoom(crop, (rows / crop.shape[0], cols / crop.shape[1]), order=1, mode="nearest",
                              grid_mode=True)
    return out


def _ellipse(h: int, w: int) -> np.ndarray:
    """(h, w) bool: the ellipse inscribed in an h x w box (pixel centres inside)."""
    yy = (np.arange(h) + 0.5) / h * 2 - 1
    xx = (np.arange(w) + 0.5) / w * 2 - 1
    return yy[:, None] ** 2 + xx[None, :] ** 2 <= 1.0


def time_intensity_curve(cine: CeusCine, boxes: np.ndarray, window_s: tuple[float, float] = TIC_WINDOW_S,
                         shape: str = "ellipse") -> np.ndarray:
    """Mean contrast intensity of the lesion on each sample (its time-intensity curve).

    ``shape``: "ellipse" averages over the ellipse inscribed in the tumour box (a round lesion fills it;
    the box corners are liver, which enhances later and would delay the peak), "box" over the whole box.

    Returns:
        (T,) float, grey levels; NaN on invalid samples and outside ``window_s`` (s from injection).
    """
    if shape not in ("ellipse", "box"):
        raise InputError("time-intensity curve", f"shape '{shape}' is not ellipse or box")
    b = _check_boxes(boxes, len(cine.times), cine.shape)
    inside = cine.valid & (cine.times >= window_s[0]) & (cine.times <= window_s[1])
    tic = np.full(len(cine.times), np.nan)
    for i in np.flatnonzero(inside):
        x0, y0, x1, y1 = b[i]
        patch = cine.contrast[i, y0:y1, x0:x1]
        tic[i] = float(patch[_ellipse(*patch.shape)].mean() if shape == "ellipse" else patch.mean())
    return tic


@dataclass(frozen=True)
class PeakFrame:
    """huang2022's two images of a patient.

    index / time_s: the sample of peak mean lesion intensity; contrast: (H, W) uint8 that CEUS frame;
    grayscale: (H, W) uint8 the grayscale image (B-mode half at the same sample for dual display, else the
    last contrast-mode sample before the contrast arrives); grayscale_index and grayscale_source say which;
    tic: (T,) the time-intensity curve it came from.
    """

    index: int
    time_s: float
    contrast: np.ndarray
    grayscale: np.ndarray
    grayscale_index: int
    grayscale_source: str
    tic: np.ndarray


def peak_frame(cine: CeusCine, boxes: np.ndarray, smooth_samples: int = 3,
               window_s: tuple[float, float] = TIC_WINDOW_S) -> PeakFrame:
    """The frame of maximum mean lesion intensity and the grayscale frame (huang2022).

    Args:
        cine: the ingested cine; boxes: (T, 4) tracked tumour boxes (un-margined: lesion only).
        smooth_samples: the curve is averaged over this many consecutive valid samples (3 = 1.5 s at
            2 fps) before taking the maximum, so one bright speckle frame does not win; 1 = raw curve.
        window_s: the curve's time window (s from injection).
    Raises:
        InputError: no valid sample inside the window.
    """
    tic = time_intensity_curve(cine, boxes, window_s)
    ok = np.flatnonzero(np.isfinite(tic))
    if ok.size == 0:
        raise InputError(cine.path, f"no valid CEUS sample between {window_s[0]} and {window_s[1]} s")
    k = max(1, int(smooth_samples))
    smoothed = np.convolve(tic[ok], np.ones(k) / k, mode="same") if ok.size >= k else tic[ok]
    # Edge samples average fewer values in 'same' mode: renormalise them.
    if ok.size >= k and k > 1:
        smoothed = smoothed / np.convolve(np.ones(ok.size), np.ones(k) / k, mode="same")
    index = int(ok[np.argmax(smoothed)])
    if cine.bmode is not None:
        g_index, gray, source = index, cine.bmode[index], "B-mode region at the peak sample"
    else:
        before = np.flatnonzero(cine.valid & (cine.times <= 0.0))
        g_index = int(before[-1]) if before.size else int(np.flatnonzero(cine.valid)[0])
        gray, source = cine.contrast[g_index], "contrast-mode sample at injection (no B-mode region)"
    return PeakFrame(index, float(cine.times[index]), cine.contrast[index].copy(), np.asarray(gray).copy(),
                     g_index, source, tic)
