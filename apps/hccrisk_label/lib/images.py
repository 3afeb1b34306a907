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


def us_clips(folder: str | Path) -> list[tuple[Path, object]]:
    """The US multi-frame instances (with a Sequence of Ultrasound Regions) of a series folder, as
    (path, header) in acquisition order (acquisition time, then instance number)."""
    import pydicom  # pydicom 2 in .venv-label: headers only

    from hccrisk.dicom.scan import _acquired

    clips = []
    for f in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # not DICOM: not a clip
            continue
        if ds.get("SequenceOfUltrasoundRegions") and int(ds.get("NumberOfFrames") or 1) > 1:
            clips.append((f, ds))
    return sorted(clips, key=lambda c: (str(_acquired(c[1]) or ""), int(c[1].get("InstanceNumber") or 0)))


def us_geometry(image_path: str | Path):
    """The US header behind a converted NIfTI (the cached series folder ``<cache>/<series uid>/`` beside
    ``<cache>/<series uid>.nii.gz``): (regions of the first clip, (T,) s from the first frame for every
    frame of every clip in order, (n_clips,) index of each clip's first frame), or None when not a US cine.
    """
    from hccrisk.dicom.scan import _acquired
    from hccrisk.dicom.us import frame_offsets_s, ultrasound_regions

    clips = us_clips(str(image_path).removesuffix(".nii.gz"))
    if not clips:
        return None
    t0 = _acquired(clips[0][1])
    times, starts, end = [], [], 0.0
    for path, ds in clips:
        offsets = frame_offsets_s(ds, path)[0]
        acquired = _acquired(ds)
        # a clip starts at its acquisition time; without one, one frame interval after the previous clip
        begin = (acquired - t0).total_seconds() if (acquired and t0) else end
        starts.append(sum(len(t) for t in times))
        times.append(begin + offsets)
        end = float(times[-1][-1]) + (float(np.median(np.diff(offsets))) if len(offsets) > 1 else 0.5)
    return ultrasound_regions(clips[0][1], clips[0][0]), np.concatenate(times), np.asarray(starts)


def write_clips_nifti(folder: str | Path, out: str | Path) -> bool:
    """Write the clips of a multi-clip US series as one cine NIfTI (frames of all clips in acquisition
    order), which MONAI Label's own conversion cannot do (SimpleITK's series reader wants one frame per
    file). Returns False (writing nothing) for a series of fewer than two clips."""
    clips = us_clips(folder)
    if len(clips) < 2:
        return False
    arrays = [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p, _ in clips]
    if len({a.shape[1:] for a in arrays}) != 1:
        raise InputError(folder, f"the clips' frames differ in size: {sorted({a.shape[1:] for a in arrays})}")
    cine = sitk.GetImageFromArray(np.concatenate(arrays), isVector=arrays[0].ndim == 4)
    sitk.WriteImage(cine, str(out), useCompression=True)
    return True


def write_label(mask: np.ndarray, reference: sitk.Image, request: dict | None = None) -> str:
    """Write a uint8 mask (numpy order: z/frames, y, x) on ``reference``'s grid; returns the file path.

    request: the infer request; its ``result_extension`` (OHIF asks for ".nrrd", default ".nii.gz") and
    ``result_compress`` (OHIF: false) choose the file type, as MONAI Label's own tasks honour them."""
    request = request or {}
    suffix = str(request.get("result_extension") or ".nii.gz")
    if suffix not in (".nii.gz", ".nii", ".nrrd", ".seg.nrrd"):
        raise InputError("result_extension", f"{suffix!r} is not a label format (.nii.gz, .nii, .nrrd)")
    label = sitk.GetImageFromArray(mask.astype(np.uint8))
    label.SetOrigin(reference.GetOrigin())
    label.SetSpacing(reference.GetSpacing())
    label.SetDirection(reference.GetDirection())
    path = tempfile.NamedTemporaryFile(suffix=suffix, delete=False).name
    sitk.WriteImage(label, path, useCompression=bool(request.get("result_compress", True)))
    return path
