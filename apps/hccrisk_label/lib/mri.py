"""Seeded 3D tumour VOI from a few clicks (SimpleITK region growing; no MONAI Label import here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from hccrisk.errors import InputError
from hccrisk.roi.mri import largest_component

#: smoothing before thresholding, mm (MR noise would leave the region full of holes; 2 mm gave Dice 0.76 on a
#: synthetic AP VOI against 0.72 at 1 mm)
SMOOTH_MM = 2.0
#: the region considered around the clicks, mm: the Otsu threshold is taken inside it, and growth stops there
MAX_RADIUS_MM = 20.0


def seeded_tumour(image: sitk.Image, seeds: Sequence[Sequence[float]], name: str = "image",
                  radius_mm: float = MAX_RADIUS_MM) -> sitk.Image:
    """The tumour VOI grown from clicks inside it.

    image: a 3D MR volume; seeds: [x, y, z] voxel indices (ITK order, as MONAI Label sends
    ``foreground``). Returns a UInt8 mask (1 = tumour) on the image's grid: voxels connected to the
    seeds at most
    radius_mm from a click (tumours wider than 2 x radius_mm need a click near each end), on the seeds' side of the Otsu threshold of that neighbourhood, opened
    by one voxel (cuts thin bridges to vessels), holes filled, the largest component kept.
    """
    if image.GetDimension() != 3:
        raise InputError(name, f"need a 3D volume; got {image.GetDimension()}D")
    size = image.GetSize()
    pts = [tuple(int(round(v)) for v in s) for s in seeds]
    if not pts or any(len(p) != 3 or not all(0 <= p[i] < size[i] for i in range(3)) for p in pts):
        raise InputError(name, f"need >= 1 click [x, y, z] inside the volume {size}; got {list(seeds)}")
    img = sitk.SmoothingRecursiveGaussian(sitk.Cast(image, sitk.sitkFloat32), SMOOTH_MM)
    clicks = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    clicks.CopyInformation(image)
    for p in pts:
        clicks[p] = 1
    dist = sitk.SignedMaurerDistanceMap(clicks, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    near = sitk.GetArrayViewFromImage(dist) <= radius_mm
    values = sitk.GetArrayViewFromImage(img)
    # Otsu inside the neighbourhood separates tumour from the liver around it, whichever is brighter
    threshold = _otsu(values[near])
    seed_mean = float(np.mean([img[p] for p in pts]))
    tumour = (values > threshold) if seed_mean > threshold else (values <= threshold)
    region = sitk.GetImageFromArray((tumour & near).astype(np.uint8))
    region.CopyInformation(image)
    grown = sitk.ConnectedThreshold(region, seedList=pts, lower=1, upper=1)
    grown = sitk.BinaryFillhole(sitk.BinaryMorphologicalOpening(grown, [1, 1, 1]))
    if not np.any(sitk.GetArrayViewFromImage(grown)):
        raise InputError(name, "no region around the clicks differs from its surroundings")
    return sitk.Cast(largest_component(grown) > 0, sitk.sitkUInt8)


def _otsu(values: np.ndarray, bins: int = 128) -> float:
    """Otsu's threshold of a 1D sample (maximises the between-class variance)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    return float(centres[np.argmax(w0 * w1 * (m0 - m1) ** 2)])
