"""extract(): counts per parameter file (as docs/radiomics.md states them), values against numpy, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hccrisk.errors import InputError
from hccrisk.radiomics import available_params, extract, extract_phases, feature_counts, load_params
from tests.radiomics.images import disc_frame, sphere_case

DOC = Path(__file__).parents[2] / "docs" / "radiomics.md"


def documented_counts() -> dict[str, dict[str, int]]:
    """The count table of docs/radiomics.md: | `stem` | dim | total | original | wavelet | LoG | ..."""
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\|\s*`(\w+)`\s*\|\s*(\w+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", line)
        if match:
            stem, _, total, original, wavelet, log = match.groups()
            rows[stem] = dict(total=int(total), original=int(original), wavelet=int(wavelet), log=int(log))
    return rows


def case_for(stem: str) -> tuple[sitk.Image, sitk.Image]:
    return disc_frame() if stem.endswith("2d") else sphere_case()


@pytest.mark.parametrize("stem", available_params())
def test_feature_count_matches_docs(stem):
    documented = documented_counts()
    assert stem in documented, f"docs/radiomics.md has no count row for {stem}"
    features = extract(*case_for(stem), stem)
    counts = feature_counts(features)
    assert len(features) == documented[stem]["total"]
    for family in ("original", "wavelet", "log"):
        assert counts.loc[("", family), "total"] == documented[stem][family]
    assert features.notna().all()


def test_paper_counts_and_breakdown():
    # the papers' per-phase numbers, broken down as docs/radiomics.md explains them
    zhao = feature_counts(extract(*sphere_case(), "zhao2024_mri"))
    assert zhao.loc[("", "original"), ["firstorder", "shape", "texture"]].tolist() == [18, 14, 75]
    assert zhao.loc[("all", "all"), "total"] == 1037
    chen = feature_counts(extract(*sphere_case(), "chen2025_mri"))
    assert chen.loc[("all", "all"), "total"] == 1197
    assert chen.loc[("all", "all"), "n_images"] == 13 and chen.loc[("", "original"), "glcm"] == 22


def test_first_order_equals_numpy_on_the_masked_pixels():
    # huang2022_ceus2d: no normalisation, bin width 5, no shift -> plain statistics of the grey levels
    image, mask = disc_frame(seed=3)
    features = extract(image, mask, "huang2022_ceus2d")
    values = sitk.GetArrayFromImage(image)[sitk.GetArrayFromImage(mask) == 1].astype(float)
    pixel_area = np.prod(image.GetSpacing())
    expected = {
        "Mean": values.mean(),
        "Energy": np.sum(values**2),
        "TotalEnergy": np.sum(values**2) * pixel_area,
        "RootMeanSquared": np.sqrt(np.mean(values**2)),
        "Minimum": values.min(),
        "Maximum": values.max(),
        "Range": np.ptp(values),
        "Median": np.median(values),
        "Variance": values.var(),
        "10Percentile": np.percentile(values, 10),
        "90Percentile": np.percentile(values, 90),
        "MeanAbsoluteDeviation": np.mean(np.abs(values - values.mean())),
    }
    for name, value in expected.items():
        assert features[f"original_firstorder_{name}"] == pytest.approx(value, rel=1e-9), name
    assert features["original_shape2D_PixelSurface"] == pytest.approx(values.size * pixel_area)


def test_first_order_follows_the_mri_normalisation():
    # zhao2024_mri: z-score over the whole image x 100, energy shifted by 300
    image, mask = sphere_case(seed=5, spacing=(1.0, 1.0, 1.0))
    features = extract(image, mask, "zhao2024_mri")
    whole = sitk.GetArrayFromImage(image).astype(float)
    normalised = (whole - whole.mean()) / whole.std(ddof=1) * 100  # sitk.Normalize uses the sample SD
    values = normalised[sitk.GetArrayFromImage(mask) == 1]
    assert features["original_firstorder_Mean"] == pytest.approx(values.mean(), rel=1e-5)
    assert features["original_firstorder_Energy"] == pytest.approx(np.sum((values + 300) ** 2), rel=1e-5)
    assert features["original_firstorder_Maximum"] == pytest.approx(values.max(), rel=1e-5)
    assert features["original_shape_VoxelVolume"] == pytest.approx(values.size)


@pytest.mark.parametrize("stem", ["zhao2024_mri", "chen2025_mri"])
def test_cropping_before_pyradiomics_gives_pyradiomics_own_values(stem):
    # A volume much larger than the tumour, the tumour 3 voxels from one face (the 10-voxel pad is clipped
    # there) and a second nodule (label 2) that the crop cuts through: the values must be bit-identical.
    image, mask = sphere_case(seed=2, shape=(30, 70, 90), radius=6.0)
    labels = sitk.GetArrayFromImage(mask)
    labels = np.roll(labels, (0, 0, 90 // 2 - 9), axis=(0, 1, 2))  # centre at x = 81: 3 voxels from the edge
    labels[12:16, 20:26, 30:36] = 2
    mask = sitk.GetImageFromArray(labels)
    mask.CopyInformation(image)
    own = extract(image, mask, stem, pre_crop=False)
    cropped = extract(image, mask, stem)
    assert list(cropped.index) == list(own.index)
    np.testing.assert_array_equal(cropped.to_numpy(), own.to_numpy())


@pytest.mark.parametrize("stem", ["chen2025_mri", "huang2022_ceus2d"])
def test_bin_edges_from_the_extremes_give_pyradiomics_own_values(stem, monkeypatch):
    # extraction.py hands pyradiomics' getBinEdges only the region's minimum and maximum: bit-identical features
    from radiomics import imageoperations

    from hccrisk.radiomics import extraction

    assert imageoperations.getBinEdges is extraction._bin_edges_from_extremes
    fast = extract(*case_for(stem), stem)
    monkeypatch.setattr(imageoperations, "getBinEdges", extraction._PYRADIOMICS_BIN_EDGES)
    own = extract(*case_for(stem), stem)
    assert list(fast.index) == list(own.index)
    np.testing.assert_array_equal(fast.to_numpy(), own.to_numpy())


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(0, 100, 5000).astype(np.float32),
    np.array([10.0, 10.0, 10.0, 10.0]),  # flat region: one bin
    np.array([-7.5, 3.0, 15.0, 20.0]),  # maximum on a bin edge
    np.random.default_rng(1).integers(-300, 900, 3000).astype(np.int16),
])
@pytest.mark.parametrize("setting", [{"binWidth": 5}, {"binWidth": 25}, {"binCount": 32}])
def test_bin_edges_equal_pyradiomics_own(values, setting):
    from hccrisk.radiomics import extraction

    own = extraction._PYRADIOMICS_BIN_EDGES(values, **setting)
    np.testing.assert_array_equal(extraction._bin_edges_from_extremes(values, **setting), own)


def test_uint8_frame_near_255_is_discretised_like_float():
    # pyradiomics adds to the maximum in the image's own type: a uint8 255 would wrap (we cast to float)
    image, mask = disc_frame(seed=1)
    as_float = sitk.Cast(image, sitk.sitkFloat32)
    assert int(sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == 1].max()) + 2 * 5 > 255
    a = extract(image, mask, "huang2022_ceus2d")
    b = extract(as_float, mask, "huang2022_ceus2d")
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12)
    assert a["original_firstorder_Entropy"] > 0


def test_single_slice_3d_frame_is_the_2d_frame():
    image, mask = disc_frame(seed=2)
    as_3d = sitk.JoinSeries(image), sitk.JoinSeries(mask)
    np.testing.assert_allclose(extract(*as_3d, "huang2022_ceus2d").to_numpy(),
                               extract(image, mask, "huang2022_ceus2d").to_numpy())


def test_empty_mask_is_an_input_error_naming_the_case():
    image, mask = sphere_case()
    with pytest.raises(InputError, match=r"case P7 AP: mask is empty: no voxel has label 1"):
        extract(image, mask * 0, "zhao2024_mri", name="case P7 AP")
    with pytest.raises(InputError, match="no voxel has label 2"):
        extract(image, mask, "zhao2024_mri", label=2)


def test_mask_outside_the_image_is_an_input_error():
    image, mask = sphere_case()
    mask.SetOrigin((500.0, 500.0, 500.0))
    with pytest.raises(InputError, match=r"case P1: mask lies outside the image"):
        extract(image, mask, "zhao2024_mri", name="case P1")


def test_mask_on_another_grid_is_an_input_error():
    image, mask = sphere_case()
    shifted = sitk.Image(mask)
    shifted.SetOrigin(tuple(np.add(mask.GetOrigin(), (2.0, 0.0, 0.0))))
    with pytest.raises(InputError, match=r"mask geometry differs from the image \(origin"):
        extract(image, shifted, "zhao2024_mri")
    smaller = sitk.Extract(mask, [40, 40, 19], [0, 0, 0])
    with pytest.raises(InputError, match=r"size \(40, 40, 19\) vs image \(40, 40, 20\)"):
        extract(image, smaller, "zhao2024_mri")


def test_dimension_mismatch_with_the_parameter_file():
    frame, frame_mask = disc_frame()
    with pytest.raises(InputError, match="3D parameter file zhao2024_mri.yaml needs a 3D image"):
        extract(frame, frame_mask, "zhao2024_mri")
    volume, volume_mask = sphere_case()
    with pytest.raises(InputError, match="2D parameter file needs a 2D image"):
        extract(volume, volume_mask, "huang2022_ceus2d")


def test_other_bad_inputs():
    image, mask = sphere_case()
    with pytest.raises(InputError, match="no such pyradiomics parameter file"):
        extract(image, mask, "nonexistent_params")
    with pytest.raises(InputError, match="non-integer values"):
        extract(image, sitk.Cast(mask, sitk.sitkFloat32) * 0.5, "zhao2024_mri")
    values = sitk.GetArrayFromImage(image)
    values[10, 20, 20] = np.nan
    bad = sitk.GetImageFromArray(values)
    bad.CopyInformation(image)
    with pytest.raises(InputError, match="NaN or infinite"):
        extract(bad, mask, "zhao2024_mri")
    single_voxel = mask * 0
    single_voxel[20, 20, 10] = 1
    with pytest.raises(InputError, match="pyradiomics refused the region"):
        extract(image, single_voxel, "zhao2024_mri")


def test_extract_phases_prefixes_and_orders(tmp_path):
    (a, am), (b, bm) = sphere_case(seed=1), sphere_case(seed=2)
    both = extract_phases({"PVP": b, "AP": a}, {"AP": am, "PVP": bm}, "zhao2024_mri")
    assert len(both) == 2 * 1037
    assert list(both.index[:1037].str[:4].unique()) == ["PVP_"] and both.index[1037].startswith("AP_original_")
    assert both["AP_original_firstorder_Mean"] == extract(a, am, "zhao2024_mri")["original_firstorder_Mean"]
    counts = feature_counts(both)
    assert counts.loc[("AP", "wavelet"), "total"] == 744 and counts.loc[("all", "all"), "total"] == 2074


def test_parameter_files_are_what_the_docs_say():
    chen = load_params("chen2025_mri")
    assert chen["setting"]["binWidth"] == 5 and chen["imageType"]["LoG"]["sigma"] == [2.0, 3.0, 4.0, 5.0]
    for stem in ("zhao2024_mri", "chen2025_mri"):
        assert "resampledPixelSpacing" not in load_params(stem)["setting"]  # ingest delivers 1 mm already
