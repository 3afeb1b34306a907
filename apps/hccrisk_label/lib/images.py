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


def us_geometry(image_path: str | Path):
    """The US regions and frame offsets (s) of the cached DICOM file behind a converted NIfTI
    (``<cache>/<series uid>/`` beside ``<cache>/<series uid>.nii.gz``), or None when it is not a US cine."""
    import pydicom  # pydicom 2 in .venv-label: hccrisk.dicom.us's header parsing works with it

    from hccrisk.dicom.us import frame_offsets_s, ultrasound_regions

    folder = Path(str(image_path).removesuffix(".nii.gz"))
    for f in sorted(folder.glob("*")) if folder.is_dir() else [Path(image_path)]:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # not DICOM (e.g. the NIfTI itself): nothing to learn here
            continue
        if ds.get("SequenceOfUltrasoundRegions"):
            return ultrasound_regions(ds, f), frame_offsets_s(ds, f)[0]
    return None


def write_label(mask: np.ndarray, reference: sitk.Image, suffix: str = ".nii.gz") -> str:
    """Write a uint8 mask (numpy order: z/frames, y, x) on ``reference``'s grid; returns the file path."""
    label = sitk.GetImageFromArray(mask.astype(np.uint8))
    label.SetOrigin(reference.GetOrigin())
    label.SetSpacing(reference.GetSpacing())
    label.SetDirection(reference.GetDirection())
    path = tempfile.NamedTemporaryFile(suffix=suffix, delete=False).name
    sitk.WriteImage(label, path, useCompression=True)
    return path
