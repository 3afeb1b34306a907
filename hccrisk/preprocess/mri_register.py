"""Rigid registration of one MRI phase to the reference (AP): Mattes mutual information, multi-resolution.

Convention (ITK's): the returned transform maps a physical point of the FIXED (reference) space to the
corresponding point of the MOVING (phase) space, which is what `sitk.Resample(moving, fixed_grid, T)`
needs to bring the moving phase onto the reference grid. Phases of one study share the scanner's frame
of reference, so the search starts at the identity (no centring of the images, which would add a
spurious shift when two series cover different fields of view); the misregistration to recover is
breathing / patient motion, a few mm and a few degrees.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

# Multi-resolution schedule. The fixed image (AP on its 1 mm grid) is first averaged down to BASE_MM (2 x 2 x 2
# voxel bins, which also anti-aliases); the levels are shrink factors of that base: 4 mm then 2 mm. Working on
# the small base instead of letting ITK smooth and shrink the 1 mm grid (3-4 million voxels) at every level
# is most of the saving; the metric samples and step limits were then cut to what the accuracy needs.
# Chosen on 5 synthetic patients (default size, planted breath-hold motion, 15 registrations); see
# docs/ingest.md "Speed" for the before/after figures.
BASE_MM = 2.0
SHRINK_FACTORS = (2, 1)  # of the base: 4 mm, 2 mm
SMOOTHING_MM = (2.0, 1.0)
SAMPLES_PER_LEVEL = 20_000
HISTOGRAM_BINS = 64
MAX_ITERATIONS = 200
MIN_STEP = 1e-2  # mm (and ~0.6 millidegree): far below the 1 mm grid
SEED = 20240601  # fixed metric sampling: the same input gives the same transform


def _euler(transform: sitk.Transform) -> sitk.Euler3DTransform:
    """The Euler3DTransform inside whatever SimpleITK returned (plain or composite)."""
    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        composite.FlattenTransform()
        transform = composite.GetNthTransform(composite.GetNumberOfTransforms() - 1)
    return sitk.Euler3DTransform(transform)


def physical_centre(image: sitk.Image) -> np.ndarray:
    """Physical point (mm) at the centre of the image's voxel grid."""
    centre_index = (np.asarray(image.GetSize(), dtype=float) - 1) / 2.0
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(centre_index.tolist()))


def transform_parameters(transform: sitk.Euler3DTransform) -> dict:
    """Euler angles (degrees, about x, y, z), translation (mm) and rotation centre (mm) of a rigid transform.

    The translation is the displacement of the centre point (fixed -> moving), so with a small rotation it
    is the shift of the anatomy near the image centre.
    """
    params = transform.GetParameters()
    return {
        "rotation_deg": [round(math.degrees(v), 4) for v in params[:3]],
        "translation_mm": [round(float(v), 4) for v in params[3:]],
        "centre_mm": [round(float(v), 4) for v in transform.GetCenter()],
    }


def base_level(image: sitk.Image) -> sitk.Image:
    """The image averaged down to about BASE_MM voxels (integer bins per axis; unchanged when already coarse).

    Bin averaging keeps the physical extent (ITK's BinShrink moves the origin to the bins' centres).
    """
    bins = [max(1, int(round(BASE_MM / s))) for s in image.GetSpacing()]
    return sitk.BinShrink(image, bins) if max(bins) > 1 else image


def _base_mask(mask: sitk.Image | None, base: sitk.Image) -> sitk.Image | None:
    if mask is None:
        return None
    return sitk.Resample(mask, base, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _sampling_percentages(fixed: sitk.Image, fixed_mask: sitk.Image | None) -> list[float]:
    n = float(np.prod(fixed.GetSize()))
    if fixed_mask is not None:
        n = max(1.0, float(sitk.GetArrayViewFromImage(fixed_mask).sum()))
    return [min(1.0, SAMPLES_PER_LEVEL * s**3 / n) for s in SHRINK_FACTORS]


def _method(fixed: sitk.Image, fixed_mask: sitk.Image | None) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentagePerLevel(_sampling_percentages(fixed, fixed_mask), SEED)
    if fixed_mask is not None:
        reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    return reg


def _metric(fixed: sitk.Image, moving: sitk.Image, fixed_mask: sitk.Image | None,
            transform: sitk.Transform) -> float:
    """Mattes MI (negative; lower is better) over every voxel of ``fixed`` shrunk to the first (coarsest)
    level: MetricEvaluate ignores the sampling settings, so every call uses the same points, and the coarse
    level costs an eighth of the base."""
    fixed = sitk.BinShrink(fixed, [SHRINK_FACTORS[0]] * 3)
    if fixed_mask is not None:
        fixed_mask = _base_mask(fixed_mask, fixed)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    if fixed_mask is not None:
        reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetInitialTransform(transform)
    return float(reg.MetricEvaluate(fixed, moving))


def register_rigid(fixed: sitk.Image, moving: sitk.Image,
                   fixed_mask: sitk.Image | None = None) -> tuple[sitk.Euler3DTransform, dict]:
    """Rigidly register `moving` to `fixed` (both 3D, physical space).

    Args:
        fixed: reference image (AP on its 1 mm grid, bias-corrected).
        moving: phase image on its native grid (bias-corrected); any intensity scale (MI).
        fixed_mask: where the metric is sampled (uint8 on the fixed grid); None (the default, and what
            ingest_mri uses) samples the whole fixed image, body-air boundary included.
    Returns:
        (transform fixed -> moving, info) with the metric before/after (Mattes MI, lower is better),
        iterations, the optimiser's stop condition, the parameters (`transform_parameters`), and
        ``fell_back_to_identity`` when the optimum was worse than the start (then the identity is
        returned: the phases stay as the scanner placed them rather than being moved wrongly).
    """
    initial = sitk.Euler3DTransform()
    initial.SetCenter(physical_centre(fixed).tolist())
    fixed = base_level(sitk.Cast(fixed, sitk.sitkFloat32))
    fixed_mask = _base_mask(fixed_mask, fixed)
    moving = sitk.Cast(moving, sitk.sitkFloat32)

    reg = _method(fixed, fixed_mask)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=MIN_STEP, numberOfIterations=MAX_ITERATIONS,
        relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8,
    )
    # One unit of each parameter should move voxels by about 1 mm, so angles and shifts step alike.
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(SHRINK_FACTORS))
    reg.SetSmoothingSigmasPerLevel(list(SMOOTHING_MM))
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(initial, inPlace=False)
    iterations = [0]
    reg.AddCommand(sitk.sitkIterationEvent, lambda: iterations.__setitem__(0, iterations[0] + 1))
    result = _euler(reg.Execute(fixed, moving))

    before = _metric(fixed, moving, fixed_mask, initial)
    after = _metric(fixed, moving, fixed_mask, result)
    fell_back = not after < before
    if fell_back:
        result = initial
    info = {
        "metric": "mattes_mutual_information",
        "metric_before": round(before, 6),
        "metric_after": round(min(after, before), 6),
        "iterations": iterations[0],  # over all levels
        "stop_condition": reg.GetOptimizerStopConditionDescription(),
        "fell_back_to_identity": bool(fell_back),
        "convention": "maps AP (reference) points to phase points (ITK resampling transform)",
        **transform_parameters(result),
    }
    return result, info
