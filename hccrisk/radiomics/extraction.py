"""One image + one mask -> one feature vector, through pyradiomics, with the input checked first.

Pyradiomics' own messages about bad masks are terse; here every problem becomes an InputError naming the
case (``name``) and what is wrong, before pyradiomics runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import radiomics
import SimpleITK as sitk
from radiomics import featureextractor, imageoperations

from hccrisk.errors import InputError
from hccrisk.log import get_logger
from hccrisk.radiomics import fast_glcm
from hccrisk.radiomics.parameters import file_sha256, is_2d, load_params, resolve_params

log = get_logger(__name__)

# Pyradiomics logs INFO lines per filter to its own stderr handler and to the root logger; we silence both and
# collect its warnings per extraction instead (see _pyradiomics_warnings).
radiomics.setVerbosity(logging.CRITICAL + 1)
logging.getLogger("radiomics").propagate = False
logging.getLogger("pykwalify").setLevel(logging.WARNING)  # "validation.valid" for every parameter file read

_PYRADIOMICS_BIN_EDGES = getattr(imageoperations.getBinEdges, "pyradiomics_own", imageoperations.getBinEdges)


def _bin_edges_from_extremes(parameterValues, **kwargs):
    """pyradiomics' ``getBinEdges``, handed only the two extreme values of the region.

    Its edges depend on nothing else (bin width: from the minimum's lower multiple to the maximum + 2
    widths; bin count: numpy.histogram over (minimum, maximum)), but it finds the extremes with Python's
    min() and max(), element by element: ~11% of a whole-liver extraction's CPU. numpy finds the same two
    values of the same dtype, so the edges are identical (tests/radiomics/test_extraction.py); non-finite
    values go to pyradiomics as they are.
    """
    values = np.asarray(parameterValues)
    if values.ndim == 1 and values.size > 2 and values.dtype.kind in "fiu":
        low, high = values.min(), values.max()
        if np.isfinite(low) and np.isfinite(high):
            return _PYRADIOMICS_BIN_EDGES(np.array([low, high], dtype=values.dtype), **kwargs)
    return _PYRADIOMICS_BIN_EDGES(parameterValues, **kwargs)


_bin_edges_from_extremes.pyradiomics_own = _PYRADIOMICS_BIN_EDGES  # type: ignore[attr-defined]
imageoperations.getBinEdges = _bin_edges_from_extremes  # binImage looks it up here for every image and class
fast_glcm.register()  # the GLCM class with array-operation MCC, Cluster Shade/Prominence (fast_glcm.py)

# Warnings that say nothing about the input: a symmetric GLCM makes SumAverage redundant (we keep it on purpose).
_BENIGN_WARNINGS = ("GLCM is symmetrical",)

_GEOMETRY_TOLERANCE = 1e-4  # relative to the voxel size for origin and spacing; absolute for direction cosines


@functools.lru_cache(maxsize=8)
def _extractor(path: Path, sha: str, normalised_here: bool = False) -> featureextractor.RadiomicsFeatureExtractor:
    # constructing validates the file against pyradiomics' schema; keyed on content so edits are picked up
    try:
        extractor = featureextractor.RadiomicsFeatureExtractor(str(path))
    except Exception as exc:  # pykwalify's SchemaError and friends
        raise InputError(path, f"pyradiomics rejects this parameter file: {exc}") from None
    if normalised_here:  # _pre_crop did pyradiomics' normalisation already, on the whole image
        extractor.settings["normalize"] = False
    return extractor


def _can_pre_crop(settings: dict) -> bool:
    """Whether `_pre_crop` gives exactly pyradiomics' own result: preCrop without resampling or outlier removal
    (both would need the whole image), for a 3D segment-based extraction."""
    return bool(settings.get("preCrop")) and not settings.get("resampledPixelSpacing") \
        and settings.get("removeOutliers") is None and not settings.get("force2D")


def _pre_crop(image: sitk.Image, mask: sitk.Image, label: int, settings: dict) -> tuple[sitk.Image, sitk.Image]:
    """What pyradiomics does before its filters, done once here with the bounding box already at hand:
    normalise over the WHOLE image (``normalize``: sitk.Normalize x normalizeScale, as pyradiomics'
    normalizeImage), then crop image and mask to the label's bounding box + ``padDistance`` voxels.

    pyradiomics would otherwise run label statistics over the whole 1 mm volume (millions of voxels) to find
    a box of a few thousand; given the cropped pair it finds the same box and crops nothing more, so the
    features are identical (tests/radiomics/test_extraction.py checks this against pyradiomics' own path).
    """
    if settings.get("normalize"):
        image = sitk.Normalize(image)
        image *= settings.get("normalizeScale", 1)
    inside = np.argwhere(sitk.GetArrayViewFromImage(mask) == label)[:, ::-1]  # (x, y, z) voxel indices
    pad = int(settings.get("padDistance", 0))
    size = np.asarray(mask.GetSize())
    lower = np.maximum(inside.min(axis=0) - pad, 0)
    upper = np.maximum(size - inside.max(axis=0) - pad - 1, 0)
    crop = sitk.CropImageFilter()
    crop.SetLowerBoundaryCropSize(lower.tolist())
    crop.SetUpperBoundaryCropSize(upper.tolist())
    return crop.Execute(image), crop.Execute(mask)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(_BENIGN_WARNINGS):
            self.messages.append(message)


@contextmanager
def _pyradiomics_warnings() -> Iterator[list[str]]:
    handler = _ListHandler()
    logger = logging.getLogger("radiomics")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _as_2d(image: sitk.Image, what: str, name: str) -> sitk.Image:
    """A 2D image, or a single-slice 3D image collapsed to 2D (the CEUS convention)."""
    if image.GetDimension() == 2:
        return image
    size = image.GetSize()
    if image.GetDimension() == 3 and size[2] == 1:
        return sitk.Extract(image, [size[0], size[1], 0], [0, 0, 0])
    raise InputError(name, f"the 2D parameter file needs a 2D {what} (or a single-slice 3D one); got size {size}")


def _check_geometry(image: sitk.Image, mask: sitk.Image, name: str) -> None:
    """Same grid (size, spacing, origin, direction), else an InputError saying how they differ."""
    if mask.GetDimension() != image.GetDimension():
        raise InputError(name, f"mask is {mask.GetDimension()}D but the image is {image.GetDimension()}D")
    spacing = np.asarray(image.GetSpacing())
    tol = _GEOMETRY_TOLERANCE * spacing.min()
    differences = []
    if mask.GetSize() != image.GetSize():
        differences.append(f"size {mask.GetSize()} vs image {image.GetSize()}")
    if not np.allclose(mask.GetSpacing(), spacing, atol=tol, rtol=0):
        differences.append(f"spacing {mask.GetSpacing()} vs image {image.GetSpacing()}")
    if not np.allclose(mask.GetOrigin(), image.GetOrigin(), atol=tol, rtol=0):
        differences.append(f"origin {mask.GetOrigin()} vs image {image.GetOrigin()}")
    if not np.allclose(mask.GetDirection(), image.GetDirection(), atol=_GEOMETRY_TOLERANCE, rtol=0):
        differences.append("direction cosines differ")
    if not differences:
        return
    if not _mask_overlaps_image(image, mask):
        raise InputError(name, "mask lies outside the image: its labelled voxels do not overlap the image's extent")
    raise InputError(
        name,
        "mask geometry differs from the image (" + "; ".join(differences) + "); "
        "resample the mask onto the image grid (nearest neighbour) first",
    )


def _mask_overlaps_image(image: sitk.Image, mask: sitk.Image) -> bool:
    """Whether the bounding box of the mask's non-zero voxels meets the image's extent (physical space)."""
    nonzero = np.argwhere(sitk.GetArrayViewFromImage(mask) != 0)
    if nonzero.size == 0:
        return True  # nothing labelled: reported as an empty mask instead
    low, high = nonzero.min(axis=0)[::-1], nonzero.max(axis=0)[::-1]  # numpy (z, y, x) -> sitk (x, y, z)
    corners = np.array(np.meshgrid(*[(lo, hi) for lo, hi in zip(low, high)], indexing="ij")).reshape(len(low), -1).T
    in_image = np.array(
        [image.TransformPhysicalPointToContinuousIndex(mask.TransformIndexToPhysicalPoint([int(c) for c in corner]))
         for corner in corners]
    )
    size = np.asarray(image.GetSize())
    return bool(np.all(in_image.max(axis=0) >= -0.5) and np.all(in_image.min(axis=0) <= size - 0.5))


def _check_contents(image: sitk.Image, mask: sitk.Image, label: int, name: str) -> sitk.Image:
    """Grey image, integer mask holding ``label``, finite values inside it; returns the mask as UInt32."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(name, f"image has {image.GetNumberOfComponentsPerPixel()} components per pixel "
                               "(RGB?); radiomics needs a single grey channel")
    labels = sitk.GetArrayViewFromImage(mask)
    if labels.dtype.kind == "f" and not np.all(np.mod(labels, 1) == 0):
        raise InputError(name, "mask has non-integer values (a probability map?); threshold it to labels first")
    inside = labels == label
    if not inside.any():
        present = np.unique(labels)
        raise InputError(name, f"mask is empty: no voxel has label {label} (values present: {present[:10].tolist()})")
    if not np.all(np.isfinite(sitk.GetArrayViewFromImage(image)[inside])):
        raise InputError(name, "image has NaN or infinite values inside the mask")
    return sitk.Cast(mask, sitk.sitkUInt32)


_SMALL_INTEGER_TYPES = {sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16}


def _as_float(image: sitk.Image) -> sitk.Image:
    """Integer images as float: pyradiomics' binning adds to the maximum in the image's own type, so a uint8
    frame with grey levels near 255 would wrap around and be discretised wrongly."""
    if image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        return image
    exact = sitk.sitkFloat32 if image.GetPixelID() in _SMALL_INTEGER_TYPES else sitk.sitkFloat64
    return sitk.Cast(image, exact)


def extract(
    image: sitk.Image,
    mask: sitk.Image,
    params: str | Path,
    *,
    label: int = 1,
    name: str = "image",
    log_as: str | None = None,
    pre_crop: bool = True,
) -> pd.Series:
    """Radiomics features of ``image`` inside ``mask == label``, as pyradiomics computes them with ``params``.

    Args:
        image: grey image (3D for the MRI parameter files, 2D for the CEUS one; a single-slice 3D image is
            accepted by a 2D file). Intensities as ingest delivers them.
        mask: label image on exactly the image's grid (size, spacing, origin, direction).
        params: a repository parameter file stem (``"zhao2024_mri"``) or a path to a pyradiomics YAML file.
        label: mask value of the region.
        name: how error messages name this case (a case id and phase, a file path).
        log_as: how log lines name it (default ``name``); pass a pseudonym when ``name`` holds a patient ID.
        pre_crop: with a ``preCrop`` parameter file, normalise and crop here (`_pre_crop`, same values, less
            work on large images); False leaves all of it to pyradiomics.

    Returns:
        float Series: pyradiomics feature name (``original_firstorder_Mean``, ``wavelet-LLH_glcm_Idmn``...) ->
        value, in pyradiomics' order; the ``diagnostics_*`` entries are dropped.

    Raises:
        InputError: empty mask, mask outside the image or on another grid, 2D/3D mismatch with the parameter
            file, RGB image, non-finite values in the region, or pyradiomics refusing the region (too small).
    """
    path = resolve_params(params)
    sha = file_sha256(path)
    content = load_params(path)
    if is_2d(content):
        image, mask = _as_2d(image, "image", name), _as_2d(mask, "mask", name)
    elif image.GetDimension() != 3 or min(image.GetSize()) < 2:
        raise InputError(name, f"the 3D parameter file {path.name} needs a 3D image with at least 2 voxels per axis; "
                               f"got size {image.GetSize()} (use a 2D parameter file for single frames)")
    _check_geometry(image, mask, name)
    mask = _check_contents(image, mask, label, name)
    image = _as_float(image)

    settings = content.get("setting") or {}
    pre_crop = pre_crop and _can_pre_crop(settings)
    if pre_crop:
        image, mask = _pre_crop(image, mask, label, settings)
    extractor = _extractor(path, sha, normalised_here=pre_crop and bool(settings.get("normalize")))
    with _pyradiomics_warnings() as warnings:
        try:
            result = extractor.execute(image, mask, label=label)
        except ValueError as exc:  # pyradiomics' checks on the mask (too few voxels, flat region...)
            raise InputError(name, f"pyradiomics refused the region: {exc}") from None
    for message in warnings:
        log.warning("%s: pyradiomics: %s", log_as or name, message)
    return pd.Series(
        {key: float(value) for key, value in result.items() if not key.startswith("diagnostics_")},
        dtype=float,
        name=name,
    )


def with_prefix(features: pd.Series, prefix: str | None) -> pd.Series:
    """Features renamed ``<prefix>_<name>`` (``AP_original_firstorder_Mean``); unchanged when prefix is None."""
    if not prefix:
        return features
    return features.rename(lambda key: f"{prefix}_{key}")


def extract_phases(
    images: Mapping[str, sitk.Image],
    masks: Mapping[str, sitk.Image],
    params: str | Path,
    *,
    label: int = 1,
    name: str = "case",
) -> pd.Series:
    """Features of several phases of one case, concatenated with phase prefixes, phases in ``images``' order.

    ``masks`` holds one mask per phase (the same keys as ``images``).
    """
    missing = [phase for phase in images if phase not in masks]
    if missing:
        raise InputError(name, f"no mask for phase(s) {missing}")
    return pd.concat(
        [with_prefix(extract(images[p], masks[p], params, label=label, name=f"{name} {p}"), p) for p in images]
    )
