"""MR series (classic single-frame MR Image Storage) -> SimpleITK image, with geometry checks.

The volume is assembled from pydicom datasets rather than with SimpleITK's ImageSeriesReader so that
every geometric assumption is checked and a broken series fails with a message naming the series and
what is wrong with it, instead of a silently distorted volume. The result has the same geometry as
ImageSeriesReader gives for the same (sorted) files: origin = position of the first slice, direction
columns = row cosines, column cosines, slice normal (row x column), slices sorted ascending along that
normal (by position, never by InstanceNumber).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from hccrisk.errors import InputError

# Tolerances: direction cosines are dimensionless, the others in mm.
ORIENTATION_TOL = 1e-4
PIXEL_SPACING_TOL_MM = 1e-3
# A slice gap may differ from the median gap by this fraction before the series is called uneven.
SLICE_GAP_REL_TOL = 0.02
SLICE_GAP_ABS_TOL_MM = 0.01
# Positions further than this from the line through the first slice along the normal: tilted stack.
OFF_AXIS_TOL_MM = 0.05

_REQUIRED = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")


@dataclass(frozen=True)
class _Slice:
    path: Path
    ds: pydicom.Dataset
    position: np.ndarray  # (3,) mm, LPS patient coordinates


def _series_name(files: Sequence[Path], name: str | None) -> str:
    if name:
        return name
    if not files:
        return "<empty series>"
    parent = Path(files[0]).parent
    return f"series in {parent} ({len(files)} files)"


def _read_slices(files: Sequence[Path], where: str) -> list[_Slice]:
    slices: list[_Slice] = []
    for f in files:
        path = Path(f)
        try:
            ds = pydicom.dcmread(path)
        except Exception as exc:  # pydicom raises several types for unreadable files
            raise InputError(path, f"not a readable DICOM file ({exc})") from exc
        missing = [k for k in _REQUIRED if k not in ds or ds[k].value in (None, "")]
        if "PixelData" not in ds:
            missing.append("PixelData")
        if missing:
            raise InputError(path, f"{where}: missing {', '.join(missing)}")
        if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
            raise InputError(
                path,
                f"{where}: multi-frame (enhanced) MR objects are not supported; "
                "export the series as single-frame MR images",
            )
        modality = getattr(ds, "Modality", "MR")
        if modality != "MR":
            raise InputError(path, f"{where}: Modality is {modality!r}, expected 'MR'")
        photometric = getattr(ds, "PhotometricInterpretation", "MONOCHROME2")
        if photometric not in ("MONOCHROME1", "MONOCHROME2"):
            raise InputError(path, f"{where}: PhotometricInterpretation {photometric} is not grayscale")
        position = np.asarray([float(v) for v in ds.ImagePositionPatient], dtype=float)
        if position.shape != (3,):
            raise InputError(path, f"{where}: ImagePositionPatient must have 3 values")
        slices.append(_Slice(path, ds, position))
    return slices


def _check_consistent(slices: list[_Slice], where: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Return (orientation (6,), pixel spacing (row, col) mm, (rows, cols)) shared by every slice."""
    first = slices[0]
    orientation = np.asarray([float(v) for v in first.ds.ImageOrientationPatient], dtype=float)
    if orientation.shape != (6,):
        raise InputError(first.path, f"{where}: ImageOrientationPatient must have 6 values")
    row, col = orientation[:3], orientation[3:]
    if (abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3
            or abs(float(row @ col)) > 1e-3):
        raise InputError(first.path, f"{where}: ImageOrientationPatient {orientation.tolist()} is not "
                         "two orthogonal unit vectors")
    spacing = np.asarray([float(v) for v in first.ds.PixelSpacing], dtype=float)
    if spacing.shape != (2,) or np.any(spacing <= 0):
        raise InputError(first.path, f"{where}: PixelSpacing {spacing.tolist()} is not two positive values")
    shape = (int(first.ds.Rows), int(first.ds.Columns))
    series_uids = {str(getattr(s.ds, "SeriesInstanceUID", "")) for s in slices}
    if len(series_uids) > 1:
        raise InputError(where, f"files from {len(series_uids)} different series (SeriesInstanceUID)")
    frames = {str(getattr(s.ds, "FrameOfReferenceUID", "")) for s in slices}
    if len(frames) > 1:
        raise InputError(where, f"slices in {len(frames)} different frames of reference")
    for s in slices[1:]:
        o = np.asarray([float(v) for v in s.ds.ImageOrientationPatient], dtype=float)
        if o.shape != (6,) or np.max(np.abs(o - orientation)) > ORIENTATION_TOL:
            raise InputError(s.path, f"{where}: inconsistent orientation: ImageOrientationPatient "
                             f"{o.tolist()} differs from {orientation.tolist()} in {first.path.name}")
        sp = np.asarray([float(v) for v in s.ds.PixelSpacing], dtype=float)
        if sp.shape != (2,) or np.max(np.abs(sp - spacing)) > PIXEL_SPACING_TOL_MM:
            raise InputError(s.path, f"{where}: inconsistent pixel spacing: PixelSpacing {sp.tolist()} "
                             f"differs from {spacing.tolist()} in {first.path.name}")
        if (int(s.ds.Rows), int(s.ds.Columns)) != shape:
            raise InputError(s.path, f"{where}: inconsistent dimensions: {int(s.ds.Rows)}x"
                             f"{int(s.ds.Columns)} differs from {shape[0]}x{shape[1]} in {first.path.name}")
    return orientation, spacing, shape


def _sort_and_check_positions(slices: list[_Slice], normal: np.ndarray, where: str) -> tuple[list[_Slice], float]:
    """Sort slices along the normal; return them with the slice spacing (mm)."""
    distance = np.asarray([float(s.position @ normal) for s in slices])
    order = np.argsort(distance, kind="stable")
    slices = [slices[i] for i in order]
    distance = distance[order]
    if len(slices) == 1:
        ds = slices[0].ds
        gap = float(getattr(ds, "SpacingBetweenSlices", 0) or getattr(ds, "SliceThickness", 0) or 1.0)
        return slices, gap
    gaps = np.diff(distance)
    duplicate = np.flatnonzero(gaps < SLICE_GAP_ABS_TOL_MM)
    if duplicate.size:
        i = int(duplicate[0])
        raise InputError(where, f"duplicate slice positions: {slices[i].path.name} and "
                         f"{slices[i + 1].path.name} lie at the same position ({distance[i]:.2f} mm along "
                         f"the normal); {duplicate.size} duplicate(s) in all (several phases, echoes or "
                         "repeats in one series?)")
    # Off-axis: the stack must run along the normal (no gantry tilt / shear).
    offsets = np.asarray([s.position - slices[0].position for s in slices])
    off_axis = np.linalg.norm(offsets - np.outer(offsets @ normal, normal), axis=1)
    if off_axis.max() > OFF_AXIS_TOL_MM:
        raise InputError(where, f"slice positions do not lie along the slice normal (up to "
                         f"{off_axis.max():.2f} mm off axis): tilted or sheared stack is not supported")
    expected = float(np.median(gaps))
    tolerance = max(SLICE_GAP_ABS_TOL_MM, SLICE_GAP_REL_TOL * expected)
    bad = np.flatnonzero(np.abs(gaps - expected) > tolerance)
    if bad.size:
        i = int(bad[0])
        ratio = gaps[i] / expected
        if abs(ratio - round(ratio)) * expected <= tolerance and round(ratio) >= 2:
            n_missing = int(round(ratio)) - 1
            raise InputError(where, f"missing slice(s): gap of {gaps[i]:.2f} mm between "
                             f"{slices[i].path.name} and {slices[i + 1].path.name} "
                             f"(expected {expected:.2f} mm; about {n_missing} slice(s) missing)")
        raise InputError(where, f"uneven slice spacing: gaps from {gaps.min():.3f} to {gaps.max():.3f} mm "
                         f"(first irregular gap {gaps[i]:.3f} mm after {slices[i].path.name})")
    # The mean over the whole stack is the spacing ImageSeriesReader reports (first to last / (n - 1)).
    return slices, float((distance[-1] - distance[0]) / (len(slices) - 1))


def _pixels(s: _Slice, where: str) -> np.ndarray:
    try:
        arr = s.ds.pixel_array
    except Exception as exc:  # missing decoder, truncated data, ...
        raise InputError(s.path, f"{where}: pixel data cannot be decoded ({exc})") from exc
    arr = arr.astype(np.float64)
    if getattr(s.ds, "PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        arr = arr.max() + arr.min() - arr  # MONOCHROME1 shows low values bright
    slope = float(getattr(s.ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(s.ds, "RescaleIntercept", 0.0) or 0.0)
    return arr * slope + intercept


def read_series(files: Sequence[Path | str], name: str | None = None) -> sitk.Image:
    """Read one MR series into a 3D float32 SimpleITK image (physical units: mm, LPS).

    Args:
        files: the DICOM files of ONE series, in any order.
        name: how to call the series in error messages (e.g. "patient pt-1234 AP"); defaults to the
            folder of the first file.

    Returns:
        image of size (columns, rows, n_slices) (SimpleITK x, y, z order), spacing (column spacing,
        row spacing, slice spacing) mm, origin = ImagePositionPatient of the first slice along the normal,
        direction columns = row cosines, column cosines, normal; voxel values = stored value x
        RescaleSlope + RescaleIntercept (per slice).

    Raises:
        InputError: naming the series (or file) and the problem: unreadable file, missing geometry
            attributes, inconsistent orientation / pixel spacing / dimensions, duplicate positions,
            missing slices, uneven slice spacing, tilted stack, multi-frame or non-MR objects.
    """
    paths = [Path(f) for f in files]
    where = _series_name(paths, name)
    if not paths:
        raise InputError(where, "no files given for the series")
    slices = _read_slices(paths, where)
    orientation, pixel_spacing, (rows, cols) = _check_consistent(slices, where)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    slices, slice_spacing = _sort_and_check_positions(slices, normal, where)

    volume = np.empty((len(slices), rows, cols), dtype=np.float32)
    for k, s in enumerate(slices):
        arr = _pixels(s, where)
        if arr.shape != (rows, cols):
            raise InputError(s.path, f"{where}: pixel data shape {arr.shape} differs from Rows x Columns")
        volume[k] = arr

    image = sitk.GetImageFromArray(volume)  # array (z, y, x) -> image (x, y, z)
    # PixelSpacing is (row spacing = between rows, column spacing = between columns); x runs along a row.
    image.SetSpacing((float(pixel_spacing[1]), float(pixel_spacing[0]), float(slice_spacing)))
    image.SetOrigin(tuple(float(v) for v in slices[0].position))
    direction = np.column_stack([row_dir, col_dir, normal])
    image.SetDirection(tuple(float(v) for v in direction.ravel()))
    return image


def describe_geometry(image: sitk.Image) -> dict:
    """JSON-ready geometry of an image: size (voxels, x y z), spacing (mm), origin (mm), direction (9)."""
    return {
        "size": [int(v) for v in image.GetSize()],
        "spacing_mm": [round(float(v), 6) for v in image.GetSpacing()],
        "origin_mm": [round(float(v), 6) for v in image.GetOrigin()],
        "direction": [round(float(v), 8) for v in image.GetDirection()],
    }
