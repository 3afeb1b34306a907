"""MRI ingest on a synthetic patient from hccrisk.synth (vendor conventions, Rician noise, coil bias, a
breath-hold motion per phase with its truth, ground-truth masks on each series' own grid)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hccrisk.dicom.mr import read_series
from hccrisk.preprocess.mri import ingest_mri, resample_mask_to_ingested
from hccrisk.synth.latent import draw_latents
from hccrisk.synth.mri import write_mri_study
from hccrisk.synth.mri_geometry import RigidMotion

PHASES = ("T2", "AP", "PVP", "DP")
pytestmark = pytest.mark.slow  # about 17 s CPU; over 30 s wall on a busy 2-core machine


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("synth_mri")
    patient = draw_latents(1, seed=7)[0]
    study = write_mri_study(patient, root / "dicom", root / "rois", "default", patient.rng("mri"))
    files = {phase: [Path(f) for f in study["series"][phase]["files"]] for phase in PHASES}
    summary = ingest_mri(files, root / "out")
    return {"study": study, "files": files, "summary": summary, "out": root / "out"}


def test_read_series_gives_the_geometry_of_the_ground_truth_masks(synthetic):
    """The synthetic masks carry ImageSeriesReader's geometry; read_series must give the same."""
    for phase in PHASES:
        volume = read_series(synthetic["files"][phase])
        mask = sitk.ReadImage(synthetic["study"]["rois"][phase]["tumour"])
        assert volume.GetSize() == mask.GetSize()
        np.testing.assert_allclose(volume.GetOrigin(), mask.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(volume.GetSpacing(), mask.GetSpacing(), atol=1e-5)
        np.testing.assert_allclose(volume.GetDirection(), mask.GetDirection(), atol=1e-6)


@pytest.mark.parametrize("phase, tolerance_mm", [("PVP", 1.0), ("DP", 1.0), ("T2", 2.0)])
def test_registration_recovers_the_synthetic_breath_hold_motion(synthetic, phase, tolerance_mm):
    """Mean displacement error over a 80 mm lattice around the liver centre. T2 is looser: 5 mm slices
    and a different contrast (and coil bias) from AP."""
    m = synthetic["study"]["motion"][phase]
    truth = RigidMotion(tuple(np.deg2rad(m["rotation_deg"])), tuple(m["translation_mm"]),
                        tuple(m["centre_mm"])).transform()
    saved = sitk.ReadTransform(str(synthetic["out"] / "mri" / "transforms" / f"{phase}_to_AP.tfm"))
    offsets = np.stack(np.meshgrid(*[[-40.0, 0.0, 40.0]] * 3), -1).reshape(-1, 3)
    points = np.asarray(m["centre_mm"]) + offsets
    error = [np.linalg.norm(np.subtract(saved.TransformPoint(p.tolist()), truth.TransformPoint(p.tolist())))
             for p in points]
    motion = [np.linalg.norm(np.subtract(p, truth.TransformPoint(p.tolist()))) for p in points]
    assert np.mean(motion) > 2.0  # the synthetic motion is a few mm: identity would fail
    assert np.mean(error) < tolerance_mm, (np.mean(error), np.max(error))


def test_every_phase_tumour_mask_lands_on_the_ap_tumour(synthetic):
    out, rois = synthetic["out"], synthetic["study"]["rois"]
    ap = sitk.GetArrayFromImage(resample_mask_to_ingested(rois["AP"]["tumour"], "AP", out)) == 1
    assert ap.sum() > 100
    for phase in ("T2", "PVP", "DP"):
        mapped = sitk.GetArrayFromImage(resample_mask_to_ingested(rois[phase]["tumour"], phase, out)) == 1
        dice = 2 * (mapped & ap).sum() / (mapped.sum() + ap.sum())
        assert dice > 0.8, (phase, dice)
    summary = synthetic["summary"]
    assert summary["missing"] == [] and all(summary["phases"][p]["status"] == "ok" for p in PHASES)


def test_body_mask_is_the_body_when_the_aorta_is_very_bright(tmp_path):
    """Regression: patient 29 of the seed-0 cohort has an arterial-phase aorta bright enough that a plain
    Otsu threshold split "vessel" from "everything else" (a 2% body mask, and ingest cropped the 1 mm grid
    to 80 x 56 x 68 voxels around it). The body fills most of this zoomed field of view."""
    from hccrisk.preprocess.mri_steps import body_mask

    patient = draw_latents(29, seed=0)[28]
    study = write_mri_study(patient, tmp_path / "dicom", tmp_path / "rois", "default", patient.rng("mri"))
    ap = read_series([Path(f) for f in study["series"]["AP"]["files"]])
    liver = sitk.GetArrayFromImage(sitk.ReadImage(study["rois"]["AP"]["liver"])) > 0
    mask = sitk.GetArrayFromImage(body_mask(ap)).astype(bool)
    assert mask.mean() > 0.5
    assert (mask & liver).sum() > 0.95 * liver.sum()
