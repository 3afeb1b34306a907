"""Network inputs from ingested cases: CEUS phase clips (liu2025) and their MONAI augmentation.

CEUS phases of different lengths are aligned by sampling the same number of frames evenly (in time) over
each phase's valid 2 fps samples; "samples split over time" (liu2025) is implemented as an interleaved
split: the ``n_frames * n_splits`` chosen samples of a phase are dealt round-robin into ``n_splits``
sub-cines (sub-cine k takes samples k, k + n_splits, ...). Each sub-cine covers the whole phase, so the
enhancement time course the NetVLAD layer aggregates is kept, and the sub-cines are the independent
training samples of one patient (always on the same side of any train/validation split: splits are by
patient). A patient's probability is the mean over its sub-cines (``hccrisk.nets.engine.predict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hccrisk.errors import InputError, MissingDataError
from hccrisk.nets.ceus import PHASES

PHASE_CODES = {"AP": 0, "PP": 1, "LP": 2}  #: the ``phase`` codes of ceus.npz
N_FRAMES = 8  #: frames per phase in one sample
N_SPLITS = 4  #: samples (interleaved sub-cines) per patient
CROP = 64  #: ROI crop size (pixels, square)
MARGIN_MM = 5.0  #: liu2025: the tumour box plus ~0.5 cm of surrounding liver


def phase_indices(phase: np.ndarray, valid: np.ndarray, name: str, count: int, where: str = "CEUS cine") -> np.ndarray:
    """``count`` sample indices evenly spread over one phase's valid samples (repeats when fewer).

    Args:
        phase: (T,) int8 phase codes of ceus.npz; valid: (T,) bool; name: "AP", "PP" or "LP".
    Returns:
        (count,) int indices in time order.
    Raises:
        MissingDataError: the phase has no valid sample.
    """
    idx = np.flatnonzero((np.asarray(phase) == PHASE_CODES[name]) & np.asarray(valid, bool))
    if idx.size == 0:
        raise MissingDataError(where, f"no valid sample in the {name} phase")
    pos = np.linspace(0, idx.size - 1, count)
    return idx[np.rint(pos).astype(int)]


def ceus_phase_samples(crops: np.ndarray, phase: np.ndarray, valid: np.ndarray, phases: Sequence[str] = PHASES,
                       n_frames: int = N_FRAMES, n_splits: int = N_SPLITS, where: str = "CEUS cine") -> np.ndarray:
    """Split one patient's ROI crops into phase-aligned samples.

    Args:
        crops: (T, H, W) ROI crops of every 2 fps sample (``hccrisk.roi.frames.crop_box_cine``), grey levels
            0-255.
        phase / valid: (T,) from ceus.npz.
        phases: phase names on the channels ("AP", "PP", "LP").
    Returns:
        (n_splits, P, n_frames, H, W) float32 in [0, 1] (grey / 255).
    """
    crops = np.asarray(crops, dtype=np.float32)
    if crops.ndim != 3 or len(crops) != len(phase):
        raise InputError(where, f"need (T, H, W) crops with T = {len(phase)} samples, got {crops.shape}")
    out = np.empty((n_splits, len(phases), n_frames) + crops.shape[1:], np.float32)
    for p, name in enumerate(phases):
        chosen = phase_indices(phase, valid, name, n_frames * n_splits, where)
        for k in range(n_splits):
            out[k, p] = crops[chosen[k::n_splits]]
    return out / 255.0


def ceus_case_samples(patient_dir: str | Path, boxes: np.ndarray | None = None, roi_dir: str | Path | None = None,
                      phases: Sequence[str] = PHASES, n_frames: int = N_FRAMES, n_splits: int = N_SPLITS,
                      crop: int = CROP, margin_mm: float = MARGIN_MM) -> np.ndarray:
    """One ingested patient's CEUS samples: (n_splits, P, n_frames, crop, crop) float32 in [0, 1].

    The ROI is either ``boxes`` ((T, 4) x0, y0, x1, y1 contrast-array pixels per sample, already margined)
    or an observer folder ``roi_dir``: its ground-truth per-frame boxes (``ceus_tumour.csv``) when present,
    else its one drawn rectangle (``ceus_box.csv``) tracked over the cine; ``margin_mm`` of liver is added.
    """
    from hccrisk.roi.cine import load_cine
    from hccrisk.roi.frames import crop_box_cine

    cine = load_cine(patient_dir)
    if boxes is None:
        if roi_dir is None:
            raise InputError(patient_dir, "need the tumour boxes or an observer ROI folder")
        boxes = observer_boxes(cine, Path(roi_dir), margin_mm)
    boxes = np.asarray(boxes, float)
    if boxes.shape != (len(cine.times), 4):
        raise InputError(patient_dir, f"need ({len(cine.times)}, 4) boxes, got {boxes.shape}")
    boxes = fill_gap_boxes(boxes, patient_dir)
    crops = crop_box_cine(cine.contrast, boxes, (crop, crop), cine.valid)
    phase = np.load(Path(cine.path), allow_pickle=False)["phase"]
    return ceus_phase_samples(crops, phase, cine.valid, phases, n_frames, n_splits, where=cine.path)


def fill_gap_boxes(boxes: np.ndarray, where: str | Path) -> np.ndarray:
    """(T, 4) boxes with NaN rows (gaps) -> int boxes, each NaN row taking the nearest measured box
    (crops of gap samples are never used; they only need a valid box)."""
    good = np.flatnonzero(np.isfinite(boxes).all(1))
    if good.size == 0:
        raise InputError(where, "no tumour box on any sample")
    near = good[np.abs(np.arange(len(boxes))[:, None] - good[None, :]).argmin(1)]
    return np.rint(boxes[near]).astype(int)


def observer_boxes(cine, roi_dir: Path, margin_mm: float) -> np.ndarray:
    """An observer's tumour boxes on every sample of ``cine`` (a ``CeusCine``), enlarged by ``margin_mm``:
    the per-frame ground truth (``ceus_tumour.csv``) when present, else the drawn rectangle
    (``ceus_box.csv``) tracked over the cine. (T, 4) float contrast-array pixels, NaN where no box."""
    from hccrisk.roi.box import CeusBox, expand_box
    from hccrisk.roi.observers import observer_box, truth_boxes
    from hccrisk.roi.tracking import track_box

    if (roi_dir / "ceus_tumour.csv").exists():
        raw = truth_boxes(roi_dir, cine)
        out = np.full_like(raw, np.nan)
        for i in np.flatnonzero(np.isfinite(raw).all(1)):
            b = CeusBox(*(int(round(v)) for v in raw[i]), frame=int(i))
            e = expand_box(b, margin_mm, cine.spacing_mm, cine.shape)
            out[i] = (e.x0, e.y0, e.x1, e.y1)
        return out
    if (roi_dir / "ceus_box.csv").exists():
        return track_box(cine, observer_box(roi_dir, cine)).expanded(margin_mm).astype(float)
    raise InputError(roi_dir, "no CEUS ROI (ceus_tumour.csv or ceus_box.csv)")


class FoldFramesd:
    """(P, T, H, W) <-> (P*T, H, W) on ``key`` so MONAI's 2D spatial transforms treat every frame alike."""

    def __init__(self, key: str = "image", unfold: bool = False):
        self.key, self.unfold = key, unfold

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        x = d[self.key]
        if self.unfold:
            d[self.key] = x.reshape(tuple(d.pop("_frames_shape")))
        else:
            d["_frames_shape"] = tuple(x.shape)
            d[self.key] = x.reshape((-1,) + tuple(x.shape[-2:]))
        return d


def ceus_augmentation(seed: int = 0, rotate_deg: float = 15.0):
    """liu2025's augmentation as MONAI dictionary transforms on ``image`` (P, T, H, W) float in [0, 1].

    One random rotation and flip is applied to every frame and phase of a sample alike (the frames are
    folded onto channels for the 2D spatial transforms), then a random intensity scale and shift.
    """
    from monai.transforms import (Compose, RandFlipd, RandRotated, RandScaleIntensityd,
                                  RandShiftIntensityd, ToTensord)

    return Compose([
        ToTensord("image", track_meta=False),
        FoldFramesd("image"),
        RandRotated("image", range_x=float(np.deg2rad(rotate_deg)), prob=0.5, padding_mode="zeros"),
        RandFlipd("image", prob=0.5, spatial_axis=0),
        RandFlipd("image", prob=0.5, spatial_axis=1),
        RandScaleIntensityd("image", factors=0.15, prob=0.5),
        RandShiftIntensityd("image", offsets=0.05, prob=0.5),
        FoldFramesd("image", unfold=True),
    ]).set_random_state(seed)


def phase_sample_times(patient_dir: str | Path, name: str, n_frames: int = N_FRAMES,
                       n_splits: int = N_SPLITS) -> np.ndarray:
    """Times (s from injection) of the frames ``ceus_case_samples`` puts in each sub-cine for phase
    ``name``: (n_splits, n_frames) float, row k = sub-cine k (to label CAM figures with their times)."""
    from hccrisk.roi.cine import load_cine

    cine = load_cine(patient_dir)
    with np.load(Path(cine.path), allow_pickle=False) as z:
        phase, times = z["phase"], z["times"]
    chosen = phase_indices(phase, cine.valid, name, n_frames * n_splits, where=cine.path)
    return np.stack([times[chosen[k::n_splits]] for k in range(n_splits)]).astype(float)
