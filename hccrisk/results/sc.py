"""Heatmap overlays (Grad-CAM on a CEUS frame or MR slice) as RGB DICOM Secondary Capture images
(highdicom ``SCImage``) in the source study, with stable UIDs: the same study, model version and
frame/slice give the same SOP Instance UID, so a re-run replaces rather than duplicates."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from matplotlib import colormaps

import hccrisk
from hccrisk.errors import InputError
from hccrisk.results import SC_SERIES_PREFIX
from hccrisk.results.sr import stable_uid

SERIES_NUMBER = 911


def overlay_rgb(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a heatmap over a grayscale image.

    Args:
        image: (H, W) grayscale, any numeric type (scaled to its own min..max).
        heatmap: (H, W) float, any range (scaled to its own min..max; a constant map shows no colour).
        alpha: weight of the heatmap colour where the heatmap is 1 (scaled by the heatmap value).
    Returns: (H, W, 3) uint8 RGB.
    """
    image = np.asarray(image, dtype=np.float64)
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if image.ndim != 2 or heatmap.shape != image.shape:
        raise InputError("heatmap overlay", f"need a 2D image and a heatmap of the same shape, got "
                                            f"{image.shape} and {heatmap.shape}")
    if not (np.isfinite(image).all() and np.isfinite(heatmap).all()):
        raise InputError("heatmap overlay", "image or heatmap has non-finite values")

    def unit(a: np.ndarray) -> np.ndarray:
        span = a.max() - a.min()
        return (a - a.min()) / span if span > 0 else np.zeros_like(a)

    gray = unit(image)[..., None].repeat(3, axis=2)
    heat = unit(heatmap)
    colour = colormaps[colormap](heat)[..., :3]
    weight = (alpha * heat)[..., None]
    return np.round(255 * ((1 - weight) * gray + weight * colour)).astype(np.uint8)


def write_heatmap_sc(image: np.ndarray, heatmap: np.ndarray, source_file: str | Path, path: str | Path, *,
                     model_name: str, model_version: str, frame: int = 0, instance_number: int = 1,
                     pixel_spacing_mm: tuple[float, float] | None = None, alpha: float = 0.4) -> Path:
    """Write one overlay as a Secondary Capture in the study of ``source_file``.

    Args:
        image: (H, W) the source frame / slice (or the model's crop of it) the heatmap belongs to.
        heatmap: (H, W) the heatmap on the same pixels.
        source_file: the DICOM file the frame/slice came from (patient/study copied, image referenced).
        frame: 0-based frame (multi-frame source) or slice index; part of the stable UID.
        pixel_spacing_mm: (row, column) spacing of ``image`` when known.
    Returns: the path written.
    """
    try:
        src = pydicom.dcmread(source_file, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(source_file, f"cannot read the source image: {exc}") from None
    rgb = overlay_rgb(image, heatmap, alpha)
    study = src.StudyInstanceUID
    sc = hd.sc.SCImage(
        pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8, coordinate_system="PATIENT",
        study_instance_uid=study,
        series_instance_uid=stable_uid(study, model_name, model_version, "sc-series"),
        series_number=SERIES_NUMBER,
        sop_instance_uid=stable_uid(study, model_name, model_version, "sc", src.SOPInstanceUID, str(frame)),
        instance_number=instance_number, manufacturer="hccrisk",
        patient_id=src.get("PatientID"), patient_name=src.get("PatientName"),
        patient_birth_date=src.get("PatientBirthDate"), patient_sex=src.get("PatientSex") or None,
        accession_number=src.get("AccessionNumber"), study_id=src.get("StudyID"),
        study_date=src.get("StudyDate"), study_time=src.get("StudyTime"),
        referring_physician_name=src.get("ReferringPhysicianName"),
        pixel_spacing=pixel_spacing_mm, patient_orientation=("L", "F"),  # replaced below
        series_description=f"{SC_SERIES_PREFIX} ({model_name} {model_version})")
    sc.SoftwareVersions = hccrisk.__version__
    # dciodvfy wants ImageLaterality on an SC; highdicom's enum has no 'U' (unpaired: the liver).
    sc.ImageLaterality = "U"
    # highdicom insists on an orientation; write the source's, or empty (Type 2: unknown) rather than a guess.
    sc.PatientOrientation = src.PatientOrientation if len(src.get("PatientOrientation") or []) == 2 else ""
    sc.BurnedInAnnotation = "NO"
    ref = pydicom.Dataset()
    ref.ReferencedSOPClassUID = src.SOPClassUID
    ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
    if int(src.get("NumberOfFrames", 1)) > 1:
        ref.ReferencedFrameNumber = frame + 1
    sc.SourceImageSequence = [ref]
    sc.DerivationDescription = f"{model_name} {model_version} heatmap over frame {frame + 1} of the source image"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sc.save_as(path, enforce_file_format=True)
    return path
