"""Small synthetic images for the radiomics tests: a noisy sphere (3D) or disc (2D) in a SimpleITK image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk


def sphere_case(seed: int = 0, shape: tuple[int, int, int] = (20, 40, 40), radius: float = 7.0,
                spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> tuple[sitk.Image, sitk.Image]:
    """Float image (z, y, x) = shape like an ingested MRI phase: dark background on one side, "liver" on the
    other, a brighter noisy tumour sphere in the middle; uint8 mask of the sphere (label 1).

    The background keeps the tumour's range at ~1.5 whole-image SDs, as in real images: a pure-noise image
    would give pyradiomics' x100 / bin width 5 convention ~150 grey levels and slow GLCM MCC down a lot.
    """
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    centre = np.array(shape) / 2
    inside = ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) < radius**2
    body = x >= shape[2] // 4
    values = np.where(body, rng.normal(3.0, 0.25, shape), rng.normal(0.0, 0.05, shape))
    values = np.where(inside, rng.normal(4.0, 0.3, shape) + 0.02 * (x - centre[2]), values)
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin((-10.0, 5.0, 2.5))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def disc_frame(seed: int = 0, shape: tuple[int, int] = (120, 160), radius: float = 30.0,
               spacing: tuple[float, float] = (0.3, 0.3), dtype=np.uint8) -> tuple[sitk.Image, sitk.Image]:
    """2D grey frame (0-255) with an enhancing disc, like a CEUS peak frame; 2D mask of the disc."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape)
    inside = ((y - shape[0] / 2) ** 2 + (x - shape[1] / 2) ** 2) < radius**2
    values = np.clip(rng.normal(60, 20, shape) + 120 * inside, 0, 255).astype(dtype)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(spacing)
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def write_case(folder: Path, stem: str, image: sitk.Image, mask: sitk.Image) -> tuple[Path, Path]:
    """Write image and mask as NIfTI under folder; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    image_path, mask_path = folder / f"{stem}.nii.gz", folder / f"{stem}_mask.nii.gz"
    sitk.WriteImage(image, str(image_path))
    sitk.WriteImage(mask, str(mask_path))
    return image_path, mask_path
