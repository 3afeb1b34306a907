"""fast_glcm.FastGLCM gives pyradiomics' own GLCM values (to 1e-10, relative), and extract() uses it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import getFeatureClasses

from hccrisk.radiomics import extract
from hccrisk.radiomics.fast_glcm import PYRADIOMICS_GLCM, FastGLCM
from tests.radiomics.images import disc_frame, sphere_case

RTOL = 1e-10


def _features(cls, image: sitk.Image, mask: sitk.Image, **settings) -> tuple[dict[str, float], dict]:
    """Every GLCM feature (MCC and SumAverage included) and the coefficients of one class on one region."""
    glcm = cls(image, mask, label=1, **settings)
    glcm.enableAllFeatures()
    values = {name: np.asarray(value, dtype=float) for name, value in glcm.execute().items()}
    return values, glcm.coefficients


def _assert_same(fast: dict, own: dict) -> None:
    assert list(fast) == list(own)
    for name in own:
        np.testing.assert_allclose(fast[name], own[name], rtol=RTOL, atol=0, err_msg=name)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bin_width", [5, 25])
def test_every_glcm_feature_equals_pyradiomics_own_3d(seed, bin_width):
    # MRI convention of the parameter files (x100, bin width 5: ~40-80 grey levels in the sphere) and a coarser one
    image, mask = sphere_case(seed=seed, shape=(24, 40, 44), radius=8.0)
    image = sitk.Normalize(image) * 100
    settings = dict(binWidth=bin_width, voxelArrayShift=300)
    fast, fast_coefficients = _features(FastGLCM, image, mask, **settings)
    own, own_coefficients = _features(PYRADIOMICS_GLCM, image, mask, **settings)
    assert fast_coefficients["Ng"] > 5  # a real texture (~40 levels at bin width 5), not a flat region
    _assert_same(fast, own)
    for name in ("pxAddy", "pxSuby", "HXY", "px", "py", "ux", "uy"):
        np.testing.assert_allclose(fast_coefficients[name], own_coefficients[name], rtol=RTOL, atol=0, err_msg=name)


@pytest.mark.parametrize("option", [{"symmetricalGLCM": False}, {"weightingNorm": "euclidean"}, {"distances": [1, 2]}])
def test_glcm_options_keep_pyradiomics_own_values(option):
    # an asymmetric GLCM (p_x != p_y), the angles merged into one weighted matrix, two distances
    image, mask = sphere_case(seed=6, shape=(24, 40, 44), radius=8.0)
    image = sitk.Normalize(image) * 100
    fast, _ = _features(FastGLCM, image, mask, binWidth=5, voxelArrayShift=300, **option)
    own, _ = _features(PYRADIOMICS_GLCM, image, mask, binWidth=5, voxelArrayShift=300, **option)
    _assert_same(fast, own)


def test_every_glcm_feature_equals_pyradiomics_own_2d_frame():
    image, mask = disc_frame(seed=3)
    image = sitk.Cast(image, sitk.sitkFloat32)  # as extract() hands it over (uint8 near 255 would wrap)
    fast, _ = _features(FastGLCM, image, mask, binWidth=5)
    own, _ = _features(PYRADIOMICS_GLCM, image, mask, binWidth=5)
    _assert_same(fast, own)


def test_voxel_based_matrices_equal_pyradiomics_own():
    # one GLCM per voxel (Nv > 1): the batched matrix products and bin sums per voxel
    image, mask = sphere_case(seed=4, shape=(10, 14, 14), radius=3.0)
    image = sitk.Normalize(image) * 100
    settings = dict(binWidth=25, voxelArrayShift=300, voxelBased=True, kernelRadius=1, maskedKernel=True)
    fast, _ = _features(FastGLCM, image, mask, **settings)
    own, _ = _features(PYRADIOMICS_GLCM, image, mask, **settings)
    assert next(iter(own.values())).size > 50
    _assert_same(fast, own)


def test_flat_region_keeps_pyradiomics_convention():
    image, mask = sphere_case(seed=0)
    flat = sitk.GetArrayFromImage(image) * 0 + 7.0
    flat_image = sitk.GetImageFromArray(flat)
    flat_image.CopyInformation(image)
    fast, _ = _features(FastGLCM, flat_image, mask, binWidth=5)
    own, _ = _features(PYRADIOMICS_GLCM, flat_image, mask, binWidth=5)
    assert fast["MCC"] == own["MCC"] == 1
    _assert_same(fast, own)


@pytest.mark.parametrize("stem", ["zhao2024_mri", "chen2025_mri"])
def test_extract_uses_it_and_gives_pyradiomics_own_values(stem, monkeypatch):
    assert getFeatureClasses()["glcm"] is FastGLCM
    case = sphere_case(seed=5, shape=(24, 40, 44), radius=8.0)
    fast = extract(*case, stem)
    monkeypatch.setitem(getFeatureClasses(), "glcm", PYRADIOMICS_GLCM)
    own = extract(*case, stem)
    assert list(fast.index) == list(own.index)
    np.testing.assert_allclose(fast.to_numpy(), own.to_numpy(), rtol=RTOL, atol=0)


def test_its_warnings_reach_pyradiomics_logger(caplog):
    # extraction._pyradiomics_warnings listens on the "radiomics" logger: FastGLCM must log there too
    image, mask = sphere_case(seed=0)
    glcm = FastGLCM(image, mask, label=1, binWidth=25, symmetricalGLCM=False)
    assert glcm.logger.name == "radiomics.glcm"
    with caplog.at_level(logging.WARNING, logger="radiomics.glcm"):
        logging.getLogger("radiomics").propagate = True
        try:
            glcm.enableFeatureByName("JointAverage")
            glcm.execute()
        finally:
            logging.getLogger("radiomics").propagate = False
    assert any("symmetrical" in r.getMessage() for r in caplog.records)
