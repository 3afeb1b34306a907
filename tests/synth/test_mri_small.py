"""The "small" size preset (the MRI of the CI science checks): fewer voxels over a smaller field of view,
the same DICOM conventions and mask geometry as the default size, and the CEUS-less restriction at the CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from hccrisk.synth.latent import draw_latents
from hccrisk.synth.mri import write_mri_study
from hccrisk.synth.mri_vendor import SIZES, VENDORS

PHASES = ("T2", "AP", "PVP", "DP")


@pytest.fixture(scope="module")
def small_studies(tmp_path_factory) -> dict[str, dict]:
    """One small study per vendor."""
    root = tmp_path_factory.mktemp("small")
    found = {}
    for p in draw_latents(12, seed=11):
        found.setdefault(p.vendor, p)
    return {v: write_mri_study(p, root / v / "dicom", root / v / "rois", "small", p.rng("mri"))
            for v, p in sorted(found.items())}


def _read_series(res: dict, phase: str) -> sitk.Image:
    folder = str(Path(res["series"][phase]["files"][0]).parent)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, res["series_uids"][phase]))
    return reader.Execute()


def test_small_series_are_smaller_with_the_masks_on_their_exact_grid(small_studies):
    matrix, n_dynamic, _, n_t2 = SIZES["small"]
    for vendor, res in small_studies.items():
        for phase in PHASES:
            img = _read_series(res, phase)
            assert img.GetSize() == (matrix, matrix, n_t2 if phase == "T2" else n_dynamic), (vendor, phase)
            assert img.GetSpacing()[0] * matrix in VENDORS[vendor].fov_small_mm
            for kind in ("tumour", "liver"):
                mask = sitk.ReadImage(res["rois"][phase][kind])
                # bit-for-bit the geometry ImageSeriesReader gives: filters accept image and mask together
                assert mask.GetOrigin() == img.GetOrigin() and mask.GetSpacing() == img.GetSpacing(), (vendor, phase)
                np.testing.assert_allclose(mask.GetDirection(), img.GetDirection(), atol=1e-6)
            tumour = sitk.GetArrayFromImage(sitk.ReadImage(res["rois"][phase]["tumour"]))
            assert (tumour == 1).sum() > 20, (vendor, phase)  # the largest nodule (zhao2024's VOI) is imaged


def test_small_covers_about_half_the_default_volume():
    """The ingest resamples every phase to 1 mm over AP's field of view: its cost follows this volume."""
    for v in VENDORS.values():
        fov_default, (spacing_default, _), _ = v.protocol("default")
        fov_small, (spacing_small, _), _ = v.protocol("small")
        ratio = (min(fov_small) / max(fov_default)) ** 2 * (SIZES["small"][1] * spacing_small) / \
            (SIZES["default"][1] * spacing_default)
        assert 0.35 < ratio < 0.65


@pytest.mark.skipif(not shutil.which("dciodvfy"), reason="dciodvfy (dicom3tools) not installed")
def test_small_series_are_valid_dicom(small_studies):
    for res in small_studies.values():
        run = subprocess.run(["dciodvfy", res["series"]["AP"]["files"][0]], capture_output=True, text=True)
        assert "Error" not in run.stdout + run.stderr


def test_cli_small_size_is_mri_only_and_names_the_choice(tmp_path):
    from hccrisk.cli import _register, app

    _register()
    runner = CliRunner()
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "a"), "--patients", "1", "--size", "small"])
    assert result.exit_code == 2 and "--modality mri" in result.output
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "b"), "--patients", "1", "--size", "tiny",
                                 "--modality", "mri"])
    assert result.exit_code == 2 and "small" in result.output
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), "--patients", "1", "--size", "small",
                                 "--modality", "mri", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert '"size": "small"' in (tmp_path / "c" / "cohort.json").read_text()
