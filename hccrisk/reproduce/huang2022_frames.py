"""huang2022's images: per patient and observer, the CEUS frame of peak lesion enhancement and the grayscale
frame (``hccrisk.roi.frames.peak_frame``), the lesion mask on each, their 2D radiomics
(``huang2022_ceus2d``, cached) and the box crops the deep-feature CNN takes.

Layout under ``work/frames/<observer>/<patient>/``: ``ceus.nii.gz``, ``ceus_mask.nii.gz``,
``gray.nii.gz``, ``gray_mask.nii.gz`` (2D images, spacing in mm) and ``frames.npz`` (``crops`` (2, 64, 64)
float32 grey levels: channel 0 grayscale, 1 peak CEUS; ``peak_index``, ``peak_time_s``,
``gray_index``). Redone only when the patient's ``ceus.npz`` or ROI file is newer.

The lesion ROI on a frame is the ellipse inscribed in that sample's tumour box (the synthetic tumours are
ellipses; a real user would draw the outline: any mask file on the frame's grid works the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk
from tqdm import tqdm

from hccrisk.errors import HccriskError, InputError
from hccrisk.log import get_logger, pseudonym
from hccrisk.reproduce.common import RunPaths

log = get_logger(__name__)

PARAMS = "huang2022_ceus2d"
FRAMES = ("gray", "ceus")  #: feature prefixes: grayscale frame, peak CEUS frame
CROP = 64  #: CNN input size (pixels) of each frame's box crop
CROP_MARGIN_MM = 5.0  #: liver rim around the tumour box in the CNN crop (liu2025's margin)


@dataclass(frozen=True)
class PatientFrames:
    """One observer's two frames of one patient: image and mask NIfTI paths per frame, and the crops."""

    patient_id: str
    images: dict[str, Path]
    masks: dict[str, Path]
    crops: np.ndarray  #: (2, CROP, CROP) float32 grey levels (gray, ceus)
    peak_time_s: float


def _ellipse_mask(shape: tuple[int, int], box: np.ndarray) -> np.ndarray:
    """(H, W) uint8: 1 inside the ellipse inscribed in box x0, y0, x1, y1 (exclusive ends)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = y1 - y0, x1 - x0
    yy = (np.arange(h) + 0.5) / h * 2 - 1
    xx = (np.arange(w) + 0.5) / w * 2 - 1
    mask = np.zeros(shape, dtype=np.uint8)
    mask[y0:y1, x0:x1] = (yy[:, None] ** 2 + xx[None, :] ** 2 <= 1.0).astype(np.uint8)
    return mask


def _image2d(array: np.ndarray, spacing_mm: np.ndarray, dtype=np.float32) -> sitk.Image:
    img = sitk.GetImageFromArray(np.asarray(array, dtype=dtype))
    img.SetSpacing(tuple(float(s) for s in np.asarray(spacing_mm, float)[::-1]))  # (row, col) -> (x, y)
    return img


def _crop(frame: np.ndarray, box: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    from hccrisk.roi.box import CeusBox, expand_box
    from hccrisk.roi.frames import crop_box_cine

    b = expand_box(CeusBox(*(int(v) for v in box)), CROP_MARGIN_MM, spacing_mm, frame.shape)
    return crop_box_cine(frame[None], np.array([[b.x0, b.y0, b.x1, b.y1]]), (CROP, CROP))[0]


def _is_current(targets: Sequence[Path], sources: Sequence[Path]) -> bool:
    newest = max(s.stat().st_mtime for s in sources if s.is_file())
    return all(t.is_file() and t.stat().st_mtime >= newest for t in targets)


def patient_frames(paths: RunPaths, patient_id: str, observer: str) -> PatientFrames:
    """The two frames of ``patient_id`` as seen by ``observer`` (its ROI folder under ``cohort/rois``):
    boxes on every sample (observer1: per-frame boxes; observer2: its rectangle tracked), the peak frame
    from the lesion's time-intensity curve 0-360 s, ellipse masks, crops. Written once, then read."""
    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.nets.data import fill_gap_boxes, observer_boxes
    from hccrisk.roi.cine import load_cine
    from hccrisk.roi.frames import peak_frame

    roi_dir = paths.cohort / "rois" / observer / patient_id
    cine_path = paths.ingest / patient_dir_name(patient_id) / "ceus.npz"
    out = paths.work / "frames" / observer / patient_dir_name(patient_id)
    images = {f: out / f"{f}.nii.gz" for f in FRAMES}
    masks = {f: out / f"{f}_mask.nii.gz" for f in FRAMES}
    npz = out / "frames.npz"
    sources = [cine_path, roi_dir / "ceus_tumour.csv", roi_dir / "ceus_box.csv"]
    if not cine_path.is_file():
        raise InputError(cine_path.parent, "no ingested CEUS cine (ceus.npz; see the ingest's problems.csv)")
    if not roi_dir.is_dir():
        raise InputError(roi_dir, f"no CEUS ROI of {observer}")
    if _is_current([*images.values(), *masks.values(), npz], sources):
        z = np.load(npz)
        return PatientFrames(patient_id, images, masks, z["crops"], float(z["peak_time_s"]))
    cine = load_cine(cine_path)
    boxes = fill_gap_boxes(observer_boxes(cine, roi_dir, 0.0), roi_dir)
    peak = peak_frame(cine, boxes)
    out.mkdir(parents=True, exist_ok=True)
    frames = {"gray": (peak.grayscale, boxes[peak.grayscale_index]), "ceus": (peak.contrast, boxes[peak.index])}
    crops = []
    for name, (frame, box) in frames.items():
        sitk.WriteImage(_image2d(frame, cine.spacing_mm), str(images[name]), useCompression=True)
        sitk.WriteImage(_image2d(_ellipse_mask(frame.shape, box), cine.spacing_mm, np.uint8), str(masks[name]),
                        useCompression=True)
        crops.append(_crop(frame, box, cine.spacing_mm))
    crops_arr = np.stack(crops).astype(np.float32)
    np.savez(npz, crops=crops_arr, peak_index=peak.index, peak_time_s=peak.time_s, gray_index=peak.grayscale_index)
    return PatientFrames(patient_id, images, masks, crops_arr, peak.time_s)


def observer_frames(paths: RunPaths, patient_ids: Sequence[str], observer: str,
                    progress: bool = True) -> tuple[dict[str, PatientFrames], list[dict[str, str]]]:
    """``patient_frames`` for every patient; a patient that fails is a failure row, not an abort."""
    done: dict[str, PatientFrames] = {}
    failures: list[dict[str, str]] = []
    for pid in tqdm(patient_ids, desc=f"frames {observer}", unit="patient", disable=not progress):
        try:
            done[pid] = patient_frames(paths, pid, observer)
        except (HccriskError, ValueError, OSError) as exc:
            log.warning("%s (%s): frames not made: %s", pseudonym(pid), observer, exc)
            failures.append({"patient_id": pid, "observer": observer, "problem": str(exc)})
    return done, failures


def frame_radiomics(paths: RunPaths, frames: dict[str, PatientFrames], workers: int | None,
                    progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2D radiomics of both frames of every patient, prefixed ``gray_`` / ``ceus_`` (939 per frame);
    cached in ``work/radiomics-cache``. Returns (features indexed by patient_id, failures)."""
    from hccrisk.radiomics import Case, extract_cohort

    cases = [Case(pid, pf.images[f], pf.masks[f], prefix=f) for pid, pf in frames.items() for f in FRAMES]
    if not cases:
        return pd.DataFrame(), pd.DataFrame(columns=["case_id", "prefix", "error"])
    table, failures = extract_cohort(cases, PARAMS, cache_dir=paths.work / "radiomics-cache", workers=workers,
                                     progress=progress)
    table.index = table.index.astype(str)
    table.index.name = "patient_id"
    return table, failures


@dataclass(frozen=True)
class FrameData:
    """Everything huang2022's analysis takes from the images, per observer: radiomics (patients x
    features), crops {patient: (2, 64, 64)}, peak times (s); ``failures`` one row per problem."""

    radiomics1: pd.DataFrame
    radiomics2: pd.DataFrame
    crops1: dict[str, np.ndarray]
    crops2: dict[str, np.ndarray]
    peak_times: pd.Series
    failures: pd.DataFrame


def frame_data(paths: RunPaths, patient_ids: Sequence[str], workers: int | None, progress: bool = True) -> FrameData:
    """Frames, masks, crops and radiomics of observer 1 (all patients) and observer 2 (its subset)."""
    obs2_dir = paths.cohort / "rois" / "observer2"
    ids2 = [p for p in patient_ids if (obs2_dir / p).is_dir()]
    f1, fail1 = observer_frames(paths, patient_ids, "observer1", progress)
    f2, fail2 = observer_frames(paths, ids2, "observer2", progress)
    r1, x1 = frame_radiomics(paths, f1, workers, progress)
    r2, x2 = frame_radiomics(paths, f2, workers, progress)
    failures = pd.concat([pd.DataFrame(fail1 + fail2, columns=["patient_id", "observer", "problem"]),
                          x1.assign(observer="observer1"), x2.assign(observer="observer2")], ignore_index=True)
    return FrameData(r1, r2, {p: f.crops for p, f in f1.items()}, {p: f.crops for p, f in f2.items()},
                     pd.Series({p: f.peak_time_s for p, f in f1.items()}, name="peak_time_s", dtype=float),
                     failures)
