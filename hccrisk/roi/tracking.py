"""Propagate a CEUS box over the 2 fps cine by template tracking (probe drift and breathing).

Method (docs/roi.md, "Tracking"): the box plus a 15 mm rim of surrounding tissue is the template; on
each sample it is searched within a radius around its previous position by zero-mean normalised
cross-correlation (NCC) against two references, the key frame's patch (anchors the track: no drift) and
a running average of the patches found on the previous samples (follows gradual changes of
appearance; the averaging removes the fresh bubble speckle), with a weak penalty on large moves.
Contrast wash-in and washout change the contrast image completely (the tumour turns from brighter to
darker than the liver), so dual-display cines are tracked on their B-mode half, whose tissue texture moves
with the anatomy but does not change. Single-display cines are tracked on the raw contrast image before
the bubbles reach the lesion (a faint static tissue texture, exact to match) and afterwards on the
gradient magnitude of the image smoothed by a 1.5 mm Gaussian: edges (tumour, vessels, liver surface)
stay edges when the contrast inverts, and the smoothing removes the per-frame bubble speckle. A
correction on a sample re-anchors the track from there on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox, clip_box, expand_box
from hccrisk.roi.cine import CeusCine

CONTEXT_MM = 15.0  #: tissue around the box that is part of the template (liver edge, vessels)
STEP_RADIUS_MM = 8.0  #: search radius between consecutive samples (breathing moves < 3 mm per 0.5 s)
GAP_RADIUS_MM = 20.0  #: search radius after a gap (probe repositioned between clips)
SMOOTH_MM = 1.5  #: Gaussian sigma of the contrast structure image (bubble speckle grains ~0.8-3 mm)
PENALTY = 0.2  #: score cost of a move to the edge of the search radius (weak motion prior)
EMA = 0.15  #: weight of the newest patch in the running template (averages the speckle out)
PRE_RAW = True  #: track pre-contrast contrast frames on raw intensities (see _feature_kinds)
PRE_CONTRAST_RISE = 0.5  #: grey levels of mean rise around the lesion that mark the contrast arrival
KEY_WEIGHT = 0.5  #: weight of the key-frame template against the previous-sample template


@dataclass(frozen=True)
class BoxTrack:
    """The box on every sample of the cine, in contrast-array pixels.

    boxes: (T, 4) int x0, y0, x1, y1 (exclusive ends), clipped to the region; on invalid samples the
    last box before them. tracked: (T,) bool, True where the box was measured on that sample (False in
    gaps). score: (T,) the NCC of the match (1 on key frames, NaN in gaps). keyframe: (T,) the key
    frame (anchor or correction) each sample was tracked from. source: "bmode" or "contrast".
    """

    boxes: np.ndarray
    tracked: np.ndarray
    score: np.ndarray
    keyframe: np.ndarray
    shape: tuple[int, int]
    spacing_mm: tuple[float, float]
    source: str

    def __len__(self) -> int:
        return len(self.boxes)

    def box(self, index: int) -> CeusBox:
        x0, y0, x1, y1 = (int(v) for v in self.boxes[index])
        return CeusBox(x0, y0, x1, y1, index)

    def expanded(self, margin_mm: float) -> np.ndarray:
        """(T, 4) boxes enlarged by ``margin_mm`` and clipped to the region (see ``expand_box``)."""
        return np.stack([expand_box(self.box(i), margin_mm, self.spacing_mm, self.shape).as_array()
                         for i in range(len(self))])


def ncc_map(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Zero-mean normalised cross-correlation of ``template`` at every 'valid' position of ``image``.

    Args:
        image: (H, W) float search area; template: (h, w) float, h <= H, w <= W.
    Returns:
        (H - h + 1, W - w + 1) NCC in [-1, 1]; 0 where the image window or the template is flat.
    """
    return _NccSearch(image, np.shape(template)).combined([template], [1.0])


class _NccSearch:
    """NCC of several same-size templates over one search area, sharing the area's FFT and window sums.

    The correlation is circular on an FFT grid of at least the area's size (not area + template - 1):
    the 'valid' positions never wrap around, so the smaller grid gives the same numbers for half the work.
    """

    def __init__(self, area: np.ndarray, template_shape: tuple[int, int]):
        self.area = np.asarray(area, dtype=np.float64)
        self.h, self.w = (int(v) for v in template_shape)
        big, wide = self.area.shape
        if self.h > big or self.w > wide:
            raise ValueError(f"template {tuple(template_shape)} larger than the search image {self.area.shape}")
        self.grid = (sp_fft.next_fast_len(big, real=True), sp_fft.next_fast_len(wide, real=True))
        self.spectrum = sp_fft.rfft2(self.area, self.grid)
        n = self.h * self.w
        s1 = _window_sums(self.area, self.h, self.w)
        s2 = _window_sums(self.area * self.area, self.h, self.w)
        self.std = np.sqrt(np.clip(s2 - s1 * s1 / n, 0.0, None))  # sqrt(n) x the window's std

    def combined(self, templates: list[np.ndarray], weights: list[float]) -> np.ndarray:
        """sum_j weights[j] x NCC(templates[j]): (H - h + 1, W - w + 1), one inverse FFT for all of them."""
        out_shape = (self.area.shape[0] - self.h + 1, self.area.shape[1] - self.w + 1)
        cross = None
        for template, weight in zip(templates, weights):
            t = np.asarray(template, dtype=np.float64)
            if t.shape != (self.h, self.w):
                raise ValueError(f"template {t.shape} is not {(self.h, self.w)}")
            t = t - t.mean()
            t_norm = float(np.sqrt(np.sum(t * t)))
            if weight == 0.0 or t_norm == 0.0:  # a flat template carries no position information: NCC 0
                continue
            term = (weight / t_norm) * np.conj(sp_fft.rfft2(t, self.grid))
            cross = term if cross is None else cross + term
        if cross is None:
            return np.zeros(out_shape)
        num = sp_fft.irfft2(self.spectrum * cross, self.grid)[:out_shape[0], :out_shape[1]]
        # Flat windows carry no position information: score 0, not noise.
        ok = self.std > 1e-6 * max(float(np.max(self.std)), 1e-12)
        return np.where(ok, num / np.where(ok, self.std, 1.0), 0.0)


def _window_sums(a: np.ndarray, h: int, w: int) -> np.ndarray:
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = np.cumsum(np.cumsum(a, axis=0), axis=1)
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


class _Features:
    """The tracking image of a sample over a window only: "raw" intensities, or "gradient" (gradient
    magnitude of the image smoothed by ``sigma`` pixels) computed on the window plus the Gaussian's reach,
    so every value equals the whole-frame computation's (the search area is a fraction of the frame)."""

    def __init__(self, stack: np.ndarray, sigma: tuple[float, float]):
        self.stack, self.sigma = stack, sigma
        # scipy's Gaussian kernel radius (truncate 4): what one output pixel reads on each side.
        self.reach = tuple(int(4.0 * s + 0.5) for s in sigma)

    def window(self, i: int, kind: str, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(y1 - y0, x1 - x0) float32 feature of sample ``i`` on rows y0:y1, columns x0:x1."""
        if kind == "raw":
            return self.stack[i, y0:y1, x0:x1].astype(np.float32)
        h, w = self.stack.shape[1:]
        ya, xa = max(y0 - self.reach[0], 0), max(x0 - self.reach[1], 0)
        yb, xb = min(y1 + self.reach[0], h), min(x1 + self.reach[1], w)
        padded = ndimage.gaussian_gradient_magnitude(self.stack[i, ya:yb, xa:xb].astype(np.float32), self.sigma)
        return padded[y0 - ya:y1 - ya, x0 - xa:x1 - xa]


def _tracking_source(cine: CeusCine, source: str) -> str:
    if source not in ("auto", "bmode", "contrast"):
        raise InputError("tracking source", f"'{source}' is not auto, bmode or contrast")
    has_bmode = cine.bmode is not None and cine.bmode.shape == cine.contrast.shape
    if source == "bmode" and not has_bmode:
        raise InputError(cine.path, "tracking on B-mode asked for, but the cine has no B-mode region of the "
                                    "contrast region's size")
    return "bmode" if (source == "bmode" or (source == "auto" and has_bmode)) else "contrast"


def track_box(cine: CeusCine, anchor_box: CeusBox, anchor_index: int | None = None,
              corrections: Mapping[int, CeusBox] | None = None, *, source: str = "auto",
              context_mm: float = CONTEXT_MM, step_radius_mm: float = STEP_RADIUS_MM,
              gap_radius_mm: float = GAP_RADIUS_MM) -> BoxTrack:
    """Propagate a box drawn on one sample to every sample of the cine.

    Args:
        cine: the ingested cine (``load_cine``).
        anchor_box: the tumour box (un-margined; add the margin afterwards with ``BoxTrack.expanded``)
            in contrast-array pixels; ``anchor_box.frame`` is its sample unless ``anchor_index`` is given.
        corrections: sample index -> corrected box. Each key frame (anchor or correction) is tracked
            forward up to the next key frame; the earliest one also backward to sample 0. A correction
            after the anchor therefore changes only that sample and the ones after it.
        source: "auto" (B-mode half when present, else contrast), "bmode" or "contrast".
        context_mm / step_radius_mm / gap_radius_mm: template rim and search radii (module constants).
    Returns:
        a BoxTrack of len(cine.times) boxes of the anchor box's size.
    Raises:
        InputError: a key frame outside the cine or on an invalid sample, or a box outside the region.
    """
    n = len(cine.times)
    keys = {int(anchor_box.frame if anchor_index is None else anchor_index): anchor_box}
    keys.update({int(k): v for k, v in (corrections or {}).items()})
    for k, b in keys.items():
        if not 0 <= k < n or not cine.valid[k]:
            raise InputError(cine.path, f"key frame {k} is outside the cine (0..{n - 1}) or in a gap")
        keys[k] = clip_box(b, cine.shape)  # raises when the box misses the region
    src = _tracking_source(cine, source)
    stack = cine.bmode if src == "bmode" else cine.contrast
    sy, sx = (float(s) for s in cine.spacing_mm)
    sigma = (SMOOTH_MM / sy, SMOOTH_MM / sx)
    ctx = (int(np.ceil(context_mm / sy)), int(np.ceil(context_mm / sx)))
    around = [clip_box(CeusBox(b.x0 - ctx[1], b.y0 - ctx[0], b.x1 + ctx[1], b.y1 + ctx[0]), cine.shape)
              for b in keys.values()]
    region = CeusBox(min(b.x0 for b in around), min(b.y0 for b in around), max(b.x1 for b in around),
                     max(b.y1 for b in around))
    kinds = _feature_kinds(cine, src, region)
    features = _Features(stack, sigma)
    boxes = np.zeros((n, 4), dtype=np.int64)
    tracked = np.zeros(n, dtype=bool)
    score = np.full(n, np.nan)
    keyframe = np.full(n, -1, dtype=np.int64)
    order = sorted(keys)
    radius = (int(np.ceil(step_radius_mm / sy)), int(np.ceil(step_radius_mm / sx)))
    gap_radius = (int(np.ceil(gap_radius_mm / sy)), int(np.ceil(gap_radius_mm / sx)))
    for j, k in enumerate(order):
        stop = order[j + 1] if j + 1 < len(order) else n
        segments = [(k, stop, 1)] + ([(k, -1, -1)] if j == 0 else [])
        for start, end, step in segments:
            _track_segment(features, kinds, cine.valid, keys[k], start, end, step, ctx, radius, gap_radius,
                           cine.shape, boxes, tracked, score, keyframe)
    return BoxTrack(boxes, tracked, score, keyframe, cine.shape, (sy, sx), src)


def _feature_kinds(cine: CeusCine, src: str, region: CeusBox) -> np.ndarray:
    """Per sample, what to track on: "raw" intensities for B-mode and for contrast frames before the
    bubbles reach the lesion (a faint static tissue texture that moves with the anatomy: exact to match),
    "gradient" (smoothed gradient magnitude) once they have. Arrival: the mean of ``region`` (around the
    lesion) first exceeds its median over the first 2 s by PRE_CONTRAST_RISE grey levels."""
    n = len(cine.times)
    if src == "bmode":
        return np.full(n, "raw", dtype=object)
    first = cine.valid & (cine.times <= 2.0)
    if not PRE_RAW or not first.any():
        return np.full(n, "gradient", dtype=object)
    means = cine.contrast[:, region.y0:region.y1, region.x0:region.x1].reshape(n, -1).mean(axis=1)
    base = float(np.median(means[first]))
    arrived = np.maximum.accumulate(cine.valid & (means > base + PRE_CONTRAST_RISE))
    return np.where(arrived, "gradient", "raw").astype(object)


def _track_segment(features: _Features, kinds, valid, key_box: CeusBox, start: int, stop: int, step: int, ctx,
                   radius, gap_radius, shape, boxes, tracked, score, keyframe) -> None:
    """Track from key frame ``start`` towards ``stop`` (exclusive), writing into the output arrays."""
    h_img, w_img = shape
    # Template = box + context rim, clipped to the region at the key frame; its offset to the box is fixed.
    patch = CeusBox(key_box.x0 - ctx[1], key_box.y0 - ctx[0], key_box.x1 + ctx[1], key_box.y1 + ctx[0])
    patch = clip_box(patch, shape)
    off = (key_box.x0 - patch.x0, key_box.y0 - patch.y0)
    ph, pw = patch.height, patch.width
    key_tpl: np.ndarray | None = None  # cut when first needed: a key frame followed by another has no search
    prev_tpl: np.ndarray | None = None
    prev_i = start
    px, py = patch.x0, patch.y0
    bw, bh = key_box.width, key_box.height

    def put(i: int, s: float, measured: bool) -> None:
        x0, y0 = px + off[0], py + off[1]
        b = clip_box(CeusBox(x0, y0, x0 + bw, y0 + bh), shape)
        boxes[i] = b.as_array()
        tracked[i], score[i], keyframe[i] = measured, s, start

    put(start, 1.0, True)
    after_gap = False
    for i in range(start + step, stop, step):
        if not valid[i]:
            put(i, np.nan, False)
            after_gap = True
            continue
        if key_tpl is None:
            key_tpl = features.window(start, kinds[start], patch.y0, patch.y1, patch.x0, patch.x1)
            prev_tpl = key_tpl
        ry, rx = gap_radius if after_gap else radius
        ya, yb = max(py - ry, 0), min(py + ry + ph, h_img)
        xa, xb = max(px - rx, 0), min(px + rx + pw, w_img)
        # Where the feature changes (the contrast arrival), sample i is still matched in the previous
        # sample's feature, and the running template restarts from sample i in the new one.
        kind, switch = kinds[prev_i], kinds[i] != kinds[prev_i]
        area = features.window(i, kind, ya, yb, xa, xb)
        w_key = KEY_WEIGHT if kind == kinds[start] else 0.0
        combined = _NccSearch(area, (ph, pw)).combined([key_tpl, prev_tpl], [w_key, 1.0 - w_key])
        # Prefer the smallest move among equal scores (flat images give an all-zero map).
        dy, dx = np.mgrid[0:combined.shape[0], 0:combined.shape[1]]
        dist = ((dy + ya - py) / ry) ** 2 + ((dx + xa - px) / rx) ** 2
        scored = combined - PENALTY * dist
        best = np.lexsort((dist.ravel(), -np.round(scored.ravel(), 9)))[0]
        by, bx = np.unravel_index(best, scored.shape)
        py, px = int(by + ya), int(bx + xa)
        put(i, float(combined[by, bx]), True)
        if switch:
            prev_tpl = features.window(i, kinds[i], py, py + ph, px, px + pw)
        else:
            prev_tpl = (1.0 - EMA) * prev_tpl + EMA * area[py - ya:py - ya + ph, px - xa:px - xa + pw]
        prev_i = i
        after_gap = False
