"""Reading the image MONAI Label hands an infer task, and writing its label (SimpleITK, pydicom 2)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from hccrisk.errors import InputError


def read_image(path: str | Path) -> sitk.Image:
    """The request's image: a NIfTI the DICOMweb datastore converted, or a DICOM series folder."""
    path = Path(path)
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            names = reader.GetGDCMSeriesFileNames(str(path))
            if len(names) == 1:
                return sitk.ReadImage(names[0])
            reader.SetFileNames(names)
            return reader.Execute()
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(path, f"cannot read the image: {str(exc).strip().splitlines()[-1]}") from None


def us_spacing_mm(image_path: str | Path, fallback: tuple[float, float]) -> tuple[float, float]:
    """(row, column) pixel size in mm from the first US region of the cached DICOM series next to the
    converted NIfTI (``<cache>/<series uid>/`` beside ``<cache>/<series uid>.nii.gz``), else ``fallback``.
    """
    import pydicom  # pydicom 2 in .venv-label: only plain attribute access here

    folder = Path(str(image_path).removesuffix(".nii.gz"))
    files = sorted(folder.glob("*")) if folder.is_dir() else []
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            region = ds.SequenceOfUltrasoundRegions[0]
            return abs(float(region.PhysicalDeltaY)) * 10.0, abs(float(region.PhysicalDeltaX)) * 10.0  # cm -> mm
        except Exception:  # not a US file or no regions: try the next, then fall back
            continue
    return fallback


def write_label(mask: np.ndarray, reference: sitk.Image, suffix: str = ".nii.gz") -> str:
    """Write a uint8 mask (numpy order: z/frames, y, x) on ``reference``'s grid; returns the file path."""
    label = sitk.GetImageFromArray(mask.astype(np.uint8))
    label.SetOrigin(reference.GetOrigin())
    label.SetSpacing(reference.GetSpacing())
    label.SetDirection(reference.GetDirection())
    path = tempfile.NamedTemporaryFile(suffix=suffix, delete=False).name
    sitk.WriteImage(label, path, useCompression=True)
    return path
