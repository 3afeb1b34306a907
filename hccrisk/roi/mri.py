"""MRI regions: tumour VOI per phase and whole-liver mask in the ingested space (1 mm, registered to AP),
the largest nodule, and zhao2024's network input: the 3 consecutive slices of maximum tumour area,
cropped around the tumour and resized to 256 x 256 per phase.

Masks drawn on a phase's native DICOM series are mapped into the ingested space with
``hccrisk.preprocess.mri.resample_mask_to_ingested`` (nearest neighbour through the saved transform).
Arrays follow SimpleITK's order: (z, y, x) = (slice, row, column) of the ingested grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from hccrisk.errors import InputError
from hccrisk.preprocess.mri import mri_dir, resample_mask_to_ingested

SLICES = 3  #: zhao2024: three consecutive slices
SIZE = 256  #: zhao2024: resized to 256 x 256
CROP_MARGIN_MM = 10.0  #: tissue kept around the tumour's in-plane extent (square crop)


def read_mask(path: str | Path) -> sitk.Image:
    """A label mask from NIfTI (or any SimpleITK format), as UInt8; InputError naming the file."""
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(path, f"cannot read the mask: {str(exc).strip().splitlines()[-1]}") from None
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 3:
        raise InputError(path, "a mask must be a 3D single-component label image")
    return sitk.Cast(image, sitk.sitkUInt8)


def mask_to_ingested(mask: sitk.Image | str | Path, phase: str, patient_dir: str | Path) -> sitk.Image:
    """A mask on the phase's native series grid -> the patient's ingested grid (UInt8)."""
    image = mask if isinstance(mask, sitk.Image) else read_mask(mask)
    return sitk.Cast(resample_mask_to_ingested(image, phase, Path(patient_dir)), sitk.sitkUInt8)


def largest_component(mask: sitk.Image) -> sitk.Image:
    """The largest connected nodule (26-connectivity) of a mask (> 0), as 0/1 UInt8, same geometry.

    Raises InputError when the mask is empty.
    """
    binary = sitk.Cast(mask > 0, sitk.sitkUInt8)
    labels = sitk.RelabelComponent(sitk.ConnectedComponent(binary, True), sortByObjectSize=True)
    if sitk.GetArrayViewFromImage(labels).max() == 0:
        raise InputError("tumour mask", "empty: no tumour voxel")
    return sitk.Cast(labels == 1, sitk.sitkUInt8)


def ingested_rois(roi_dir: str | Path, patient_dir: str | Path, phases: Sequence[str] = ("AP", "PVP", "DP"),
                  largest: bool = True) -> dict[str, dict[str, sitk.Image]]:
    """An observer's tumour VOI and liver mask of every phase, on the patient's ingested grid.

    Args:
        roi_dir: the observer's folder with ``mri_<phase>_tumour.nii.gz`` (and ``mri_<phase>_liver.nii.gz``;
            observer2 has no liver masks, so "liver" is left out when the file is absent).
        patient_dir: the patient's ingest folder (holding ``mri/``).
        largest: keep only the largest nodule (zhao2024) instead of every tumour voxel.
    Returns:
        {phase: {"tumour": UInt8 0/1 image, "liver": UInt8 0/1 image}} on the ingested grid.
    """
    out: dict[str, dict[str, sitk.Image]] = {}
    for phase in phases:
        tumour_path = Path(roi_dir) / f"mri_{phase}_tumour.nii.gz"
        if not tumour_path.is_file():
            raise InputError(tumour_path, f"missing: no {phase} tumour mask")
        tumour = mask_to_ingested(tumour_path, phase, patient_dir)
        tumour = largest_component(tumour) if largest else sitk.Cast(tumour > 0, sitk.sitkUInt8)
        out[phase] = {"tumour": tumour}
        liver_path = Path(roi_dir) / f"mri_{phase}_liver.nii.gz"
        if liver_path.is_file():
            out[phase]["liver"] = sitk.Cast(mask_to_ingested(liver_path, phase, patient_dir) > 0, sitk.sitkUInt8)
    return out


def max_area_slices(mask: np.ndarray, n: int = SLICES) -> np.ndarray:
    """Indices of the ``n`` consecutive axial slices with the largest total tumour area.

    Args:
        mask: (z, y, x) array, tumour > 0. Returns: (n,) int slice indices (z), increasing.
    """
    area = (np.asarray(mask) > 0).reshape(mask.shape[0], -1).sum(axis=1)
    if area.sum() == 0:
        raise InputError("tumour mask", "empty: no tumour voxel")
    if mask.shape[0] < n:
        raise InputError("tumour mask", f"only {mask.shape[0]} slices, need {n}")
    window = np.convolve(area, np.ones(n, dtype=np.int64), mode="valid")
    start = int(np.argmax(window))
    return np.arange(start, start + n)


def tumour_slices(images: Mapping[str, sitk.Image | str | Path], tumour: sitk.Image, *, n: int = SLICES,
                  size: int = SIZE, margin_mm: float = CROP_MARGIN_MM) -> tuple[np.ndarray, dict]:
    """zhao2024's input: per phase the n slices of maximum tumour area, square-cropped and resized.

    Args:
        images: phase -> ingested volume (image or path to ``mri/<phase>.nii.gz``), all on the same grid
            (the ingest guarantees it); the output keeps this order of phases.
        tumour: tumour VOI on that grid (e.g. the AP VOI from ``ingested_rois``); its largest nodule
            picks the slices and the crop, shared by every phase so that they stay aligned.
        n / size: slices and output side (pixels). margin_mm: tissue around the tumour's in-plane extent.
    Returns:
        (array (phases, n, size, size) float32, info {"slices", "crop_yx" (y0, y1, x0, x1), "phases"}).
    """
    voi = sitk.GetArrayFromImage(largest_component(tumour))
    z = max_area_slices(voi, n)
    ys, xs = np.nonzero(voi[z].any(axis=0))
    sy, sx = tumour.GetSpacing()[1], tumour.GetSpacing()[0]
    cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
    half = max((ys.max() + 1 - ys.min()) * sy, (xs.max() + 1 - xs.min()) * sx) / 2 + margin_mm  # mm
    y0, y1 = int(np.floor(cy - half / sy)), int(np.ceil(cy + half / sy))
    x0, x1 = int(np.floor(cx - half / sx)), int(np.ceil(cx + half / sx))
    out = np.zeros((len(images), n, size, size), dtype=np.float32)
    for p, (phase, image) in enumerate(images.items()):
        img = image if isinstance(image, sitk.Image) else sitk.ReadImage(str(image), sitk.sitkFloat32)
        if img.GetSize() != tumour.GetSize():
            raise InputError(f"MRI {phase}", f"volume size {img.GetSize()} differs from the mask's "
                                             f"{tumour.GetSize()}: not on the ingested grid")
        arr = sitk.GetArrayViewFromImage(img)
        for k, zi in enumerate(z):
            # Pad with the slice's minimum where the crop leaves the field of view (air, not tissue).
            sl = np.asarray(arr[zi], dtype=np.float32)
            padded = np.pad(sl, ((max(0, -y0), max(0, y1 - sl.shape[0])), (max(0, -x0), max(0, x1 - sl.shape[1]))),
                            constant_values=float(sl.min()))
            crop = padded[y0 + max(0, -y0):y1 + max(0, -y0), x0 + max(0, -x0):x1 + max(0, -x0)]
            out[p, k] = ndimage.zoom(crop, (size / crop.shape[0], size / crop.shape[1]), order=1,
                                     mode="nearest", grid_mode=True)
    return out, {"slices": z.tolist(), "crop_yx": [y0, y1, x0, x1], "phases": list(images)}


def ingested_volumes(patient_dir: str | Path, phases: Sequence[str] = ("AP", "PVP", "DP")) -> dict[str, sitk.Image]:
    """The ingested phase volumes ``mri/<phase>.nii.gz`` of a patient (float32)."""
    out = {}
    for phase in phases:
        path = mri_dir(Path(patient_dir)) / f"{phase}.nii.gz"
        if not path.is_file():
            raise InputError(path, f"missing: the {phase} MRI of this patient has not been ingested")
        out[phase] = sitk.ReadImage(str(path), sitk.sitkFloat32)
    return out
