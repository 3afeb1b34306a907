"""CEUS box propagation for the label server, thin over ``hccrisk.roi`` (no MONAI Label import here,
so the main venv's tests can check it).

MONAI Label hands an infer task the series as one image; for a multi-frame US cine SimpleITK gives
an array (T, H, W) (frames, rows, columns), and clicks arrive in ITK index order (x = column,
y = row, z = frame).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hccrisk.errors import InputError
from hccrisk.roi.box import MARGIN_MM, CeusBox, box_from_outline
from hccrisk.roi.cine import CeusCine
from hccrisk.roi.tracking import BoxTrack, track_box

#: the margins the papers use, mm (0.5 cm liu2025, 1 cm liu2020)
ALLOWED_MARGINS_MM = tuple(sorted(MARGIN_MM.values()))
#: the frame rate assumed when the image carries no frame times (the ingested timeline is 2 fps)
DEFAULT_FPS = 2.0


def cine_from_frames(frames: np.ndarray, spacing_mm: Sequence[float], fps: float = DEFAULT_FPS,
                     name: str = "<label image>") -> CeusCine:
    """A single-display CeusCine over every frame of a cine.

    frames: (T, H, W) grayscale (any numeric type; scaled into uint8) or (T, H, W, 3) RGB (averaged);
    spacing_mm: (row, column) pixel size in mm; fps: frames per second (times = index / fps).
    """
    arr = np.asarray(frames)
    if arr.ndim == 4 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(axis=-1)
    if arr.ndim != 3 or min(arr.shape) < 2:
        raise InputError(name, f"a CEUS cine must be (frames, rows, columns); got shape {arr.shape}")
    if arr.dtype != np.uint8:
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros(arr.shape, np.uint8) if hi <= lo else ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    n = arr.shape[0]
    return CeusCine(contrast=arr, times=np.arange(n, dtype=float) / fps, valid=np.ones(n, bool),
                    source_sop=np.array([""] * n), source_frame=np.arange(n),
                    spacing_mm=np.asarray(spacing_mm, float), region_origin=np.zeros(2, np.int64),
                    path=name)


def box_from_clicks(points: Sequence[Sequence[float]], n_frames: int, name: str = "clicks") -> CeusBox:
    """The tumour box through the user's clicks on one frame.

    points: [x, y, frame] (ITK index order, as MONAI Label sends ``foreground``); two clicks are the
    box corners, more are an outline (box through its extreme points). All clicks must be on one frame.
    """
    pts = np.asarray(points, float)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2:
        raise InputError(name, f"need at least 2 clicks [x, y, frame] on one frame; got {pts.tolist()}")
    frames = np.unique(np.round(pts[:, 2]).astype(int))
    if len(frames) != 1:
        raise InputError(name, f"clicks must all lie on one frame; got frames {frames.tolist()}")
    frame = int(frames[0])
    if not 0 <= frame < n_frames:
        raise InputError(name, f"frame {frame} is outside the cine (0..{n_frames - 1})")
    if len(pts) == 2:  # two opposite corners (pixels they fall in, x1/y1 exclusive)
        lo, hi = np.floor(pts[:, :2].min(axis=0)), np.floor(pts[:, :2].max(axis=0)) + 1
        return CeusBox(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]), frame)
    return box_from_outline(pts[:, :2], frame=frame)


def box_from_label(label: np.ndarray, name: str = "label") -> CeusBox:
    """The box of a drawn label: (T, H, W) mask with the tumour painted on exactly one frame."""
    lab = np.asarray(label) > 0
    frames = np.flatnonzero(lab.reshape(lab.shape[0], -1).any(axis=1))
    if len(frames) != 1:
        raise InputError(name, f"the label must mark the tumour on exactly one frame; found {len(frames)}")
    ys, xs = np.nonzero(lab[frames[0]])
    return CeusBox(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1, int(frames[0]))


def propagate_box(cine: CeusCine, box: CeusBox, margin_mm: float,
                  corrections: Mapping[int, CeusBox] | None = None) -> tuple[BoxTrack, np.ndarray]:
    """Track ``box`` over the cine and paint the margin-enlarged box on every frame.

    corrections: frame -> the user's corrected (un-margined) box there; each changes its frame and the
    ones after it (``hccrisk.roi.tracking.track_box``). Returns the track and a (T, H, W) uint8 mask
    (1 inside the enlarged box of each frame).
    """
    if margin_mm not in ALLOWED_MARGINS_MM:
        raise InputError("margin_mm", f"{margin_mm} mm is not one of the papers' margins {ALLOWED_MARGINS_MM}")
    track = track_box(cine, box, corrections=corrections)
    boxes = track.expanded(margin_mm)
    mask = np.zeros(cine.contrast.shape, np.uint8)
    for t, (x0, y0, x1, y1) in enumerate(boxes):
        mask[t, y0:y1, x0:x1] = 1
    return track, mask


def cine_from_stored_frames(frames: np.ndarray, regions: Sequence, offsets_s: np.ndarray,
                            name: str = "<label image>", clip_starts: Sequence[int] = ()
                            ) -> tuple[CeusCine, object, object | None]:
    """A CeusCine over the contrast region of full stored frames, with the B-mode half of a dual display.

    frames: (T, rows, columns) stored frames; regions: ``hccrisk.dicom.us.UltrasoundRegion`` items;
    offsets_s: (T,) s from the first frame; clip_starts: the first frame of each clip after the first: the
    sample before it is marked invalid, so tracking searches wider there (the probe is repositioned between
    clips; hccrisk.roi.tracking's gap rule). The contrast region is the image region whose intensity
    rises most (``hccrisk.preprocess.ceus.choose_contrast_region``); a second image region of the same
    size is the B-mode half (tracking then runs on its tissue texture). Returns the cine, the contrast
    region and the B-mode region (or None).
    """
    from hccrisk.preprocess.ceus import choose_contrast_region

    image = [r for r in regions if r.spacing_mm is not None and r.width > 1 and r.height > 1]
    if not image:
        raise InputError(name, "no ultrasound image region with a physical pixel size")
    stacks = [np.stack([r.crop(f) for f in frames]) for r in image]
    times = np.asarray(offsets_s, float)
    valid = np.ones(len(times), bool)
    k, _, _ = choose_contrast_region(image, stacks, times, valid, "auto")
    contrast = image[k]
    bmode_k = next((i for i, r in enumerate(image) if i != k and (r.width, r.height) == (contrast.width, contrast.height)),
                   None)
    cine = cine_from_frames(stacks[k], contrast.spacing_mm, name=name)
    gaps = valid.copy()
    gaps[[s - 1 for s in clip_starts if s > 0]] = False
    cine = CeusCine(contrast=cine.contrast, times=times, valid=gaps, source_sop=cine.source_sop,
                    source_frame=cine.source_frame, spacing_mm=cine.spacing_mm,
                    region_origin=np.array([contrast.x0, contrast.y0]),
                    bmode=None if bmode_k is None else cine_from_frames(stacks[bmode_k], contrast.spacing_mm).contrast,
                    bmode_region_origin=None if bmode_k is None else np.array([image[bmode_k].x0, image[bmode_k].y0]),
                    path=name)
    return cine, contrast, None if bmode_k is None else image[bmode_k]


def clicks_to_region(points: Sequence[Sequence[float]], contrast, bmode=None) -> list[list[float]]:
    """Clicks [x, y, frame] on the stored frame -> contrast-region pixels (a click on the B-mode half of
    a dual display maps to the same place in the contrast half)."""
    out = []
    for x, y, f in points:
        region = bmode if (bmode is not None and bmode.x0 <= x < bmode.x0 + bmode.width
                           and bmode.y0 <= y < bmode.y0 + bmode.height) else contrast
        out.append([x - region.x0, y - region.y0, f])
    return out


def paint_stored(mask: np.ndarray, stored_shape: tuple[int, int], regions: Sequence) -> np.ndarray:
    """(T, h, w) region mask -> (T, rows, columns) stored-frame mask, painted into each given region."""
    out = np.zeros((mask.shape[0], *stored_shape), np.uint8)
    for r in regions:
        if r is not None:
            out[:, r.y0:r.y0 + mask.shape[1], r.x0:r.x0 + mask.shape[2]] = mask
    return out


def corrections_from_params(boxes: Sequence[Sequence[float]], n_frames: int, contrast=None, bmode=None
                            ) -> dict[int, CeusBox]:
    """The ``corrections`` param, [[x0, y0, x1, y1, frame], ...] (stored-frame pixels, x1/y1 exclusive, as
    ``boxes`` + ``region_origin`` of an earlier result), as frame -> box in contrast-region pixels."""
    out = {}
    for item in boxes:
        if len(item) != 5:
            raise InputError("corrections", f"each correction is [x0, y0, x1, y1, frame]; got {list(item)}")
        x0, y0, x1, y1, f = (int(round(v)) for v in item)
        corners = [[x0, y0, f], [x1 - 1, y1 - 1, f]]
        if contrast is not None:
            corners = clicks_to_region(corners, contrast, bmode)
        out[f] = box_from_clicks(corners, n_frames, name="corrections")
    return out


def boxes_from_mask(mask: np.ndarray, contrast) -> list[tuple[int, CeusBox]]:
    """A saved CEUS label back to boxes: (frame, bounding box of the label inside the contrast region,
    stored-frame pixels, x1/y1 exclusive, ``frame`` = that frame) for every frame with label there.

    mask: (T, rows, columns) stored-frame label (> 0 = ROI); contrast: the contrast region
    (``hccrisk.dicom.us.UltrasoundRegion``) or None for the whole frame.
    """
    m = np.asarray(mask) > 0
    x0, y0 = (0, 0) if contrast is None else (contrast.x0, contrast.y0)
    if contrast is not None:
        m = m[:, y0:y0 + contrast.height, x0:x0 + contrast.width]
    out = []
    for t in np.flatnonzero(m.reshape(len(m), -1).any(axis=1)):
        rows, cols = np.flatnonzero(m[t].any(axis=1)), np.flatnonzero(m[t].any(axis=0))
        out.append((int(t), CeusBox(int(cols[0]) + x0, int(rows[0]) + y0, int(cols[-1]) + 1 + x0,
                                    int(rows[-1]) + 1 + y0, int(t))))
    return out
