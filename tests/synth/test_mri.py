"""The synthetic MRI writer: valid DICOM, geometry that SimpleITK reads back exactly as the masks
carry it, masks on the tumour's enhancement pattern, timing, breath-hold motion, determinism."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from hccrisk.synth.common import save
from hccrisk.synth.latent import draw_latents
from hccrisk.synth.mri import write_mri_study
from hccrisk.synth.mri_geometry import RigidMotion

PHASES = ("T2", "AP", "PVP", "DP")


def _patients_per_vendor():
    """The first patient of each vendor in a fixed cohort."""
    found = {}
    for p in draw_latents(12, seed=11):
        found.setdefault(p.vendor, p)
    assert sorted(found) == ["A", "B", "C"]
    return found


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> dict[str, tuple[object, dict, Path]]:
    """One written study per vendor (default size), with second-observer masks."""
    root = tmp_path_factory.mktemp("mri")
    out = {}
    for v, p in _patients_per_vendor().items():
        res = write_mri_study(p, root / v / "dicom", root / v / "rois", "default", p.rng("mri"),
                              root / v / "obs2")
        out[v] = (p, res, root / v)
    return out


def _read_series(res: dict, phase: str) -> sitk.Image:
    files = res["series"][phase]["files"]
    folder = str(Path(files[0]).parent)
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, res["series_uids"][phase])
    assert len(names) == len(files)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    return reader.Execute()


def _masks(res: dict, phase: str) -> tuple[sitk.Image, sitk.Image]:
    return sitk.ReadImage(res["rois"][phase]["tumour"]), sitk.ReadImage(res["rois"][phase]["liver"])


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_every_series_passes_dciodvfy_without_errors(studies):
    for v, (_, res, _) in studies.items():
        for phase in PHASES:
            files = res["series"][phase]["files"]
            for f in (files[0], files[len(files) // 2]):
                run = subprocess.run(["dciodvfy", f], capture_output=True, text=True)
                errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
                assert not errors, f"vendor {v} {phase} {f}: {errors}"


def test_series_read_back_with_pydicom_and_highdicom(studies):
    for v, (_, res, _) in studies.items():
        for phase in PHASES:
            files = res["series"][phase]["files"]
            assert len(files) == res["series"][phase]["shape"][0]
            ds = pydicom.dcmread(files[0])
            assert ds.SOPClassUID == pydicom.uid.MRImageStorage
            assert ds.SeriesInstanceUID == res["series_uids"][phase]
            assert ds.FrameOfReferenceUID == res["frame_of_reference_uid"]
            assert ds.StudyInstanceUID == res["study_uid"]
            real = ds.pixel_array * float(ds.get("RescaleSlope", 1.0)) + float(ds.get("RescaleIntercept", 0.0))
            for image in (hd.imread(files[0]), hd.Image.from_dataset(ds)):
                frame = image.get_frame(1)  # highdicom applies the modality (rescale) transform
                np.testing.assert_allclose(frame, real, rtol=1e-6)
            assert real.max() > 100, f"{v} {phase}: an empty image"


def test_fast_encoded_slices_are_what_a_plain_save_writes(studies, tmp_path):
    """Slices after the first are assembled from the first file's bytes: each must equal
    ``common.save`` of its own dataset."""
    for v, (_, res, _) in studies.items():
        for phase in ("T2", "AP"):
            for f in res["series"][phase]["files"][::5]:
                again = save(pydicom.dcmread(f), tmp_path / "again.dcm")
                assert Path(f).read_bytes() == again.read_bytes(), f"{v} {phase} {f}"


def test_simpleitk_geometry_is_the_intended_one_and_the_masks_share_it(studies):
    for v, (_, res, _) in studies.items():
        for phase in PHASES:
            img = _read_series(res, phase)
            s = res["series"][phase]
            assert img.GetSize() == tuple(reversed(s["shape"]))
            np.testing.assert_allclose(img.GetOrigin(), s["origin"], atol=1e-9)
            np.testing.assert_allclose(img.GetSpacing(), s["spacing"], atol=1e-9)
            np.testing.assert_allclose(img.GetDirection(), s["direction"], atol=1e-9)
            assert s["spacing"][0] < s["spacing"][2], "slices are thicker than pixels (anisotropic)"
            for mask in _masks(res, phase):
                assert mask.GetPixelID() == sitk.sitkUInt8
                assert mask.GetSize() == img.GetSize()
                np.testing.assert_allclose(mask.GetOrigin(), img.GetOrigin(), atol=1e-9)
                np.testing.assert_allclose(mask.GetSpacing(), img.GetSpacing(), atol=1e-9)
                np.testing.assert_allclose(mask.GetDirection(), img.GetDirection(), atol=1e-6)
                # The check SimpleITK filters make before combining two images.
                sitk.Mask(sitk.Cast(img, sitk.sitkFloat32), mask > 0)


def test_oblique_series_geometry_round_trips(tmp_path):
    """Vendor A tilts some studies: the mask geometry still equals the reader's."""
    from hccrisk.synth.mri import _series_grids, _streams
    from hccrisk.synth.mri_vendor import vendor

    def tilted(p) -> bool:
        grids = _series_grids(vendor("A"), "default", _streams(p.rng("mri"))["geometry"])
        return abs(grids["AP"].matrix[1, 1] - 1) > 1e-5

    p = next(p for p in draw_latents(40, seed=3) if p.vendor == "A" and tilted(p))
    res = write_mri_study(p, tmp_path / "d", tmp_path / "r", "default", p.rng("mri"))
    img = _read_series(res, "AP")
    mask = sitk.ReadImage(res["rois"]["AP"]["tumour"])
    assert abs(img.GetDirection()[4] - 1.0) > 1e-5
    np.testing.assert_allclose(img.GetSpacing(), res["series"]["AP"]["spacing"], rtol=1e-9)
    np.testing.assert_allclose(mask.GetOrigin(), img.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(mask.GetDirection(), img.GetDirection(), atol=1e-6)
    sitk.Mask(sitk.Cast(img, sitk.sitkFloat32), mask > 0)


_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)


def _ratio(res: dict, phase: str, q: float = 75.0) -> float:
    """Tumour (``q``-th percentile: the viable part of a necrotic tumour) / median liver-parenchyma
    intensity, away from the edges and the tumour's halo."""
    img = sitk.GetArrayFromImage(_read_series(res, phase)).astype(float)
    tumour, liver = (sitk.GetArrayFromImage(m) for m in _masks(res, phase))
    inner = ndimage.binary_erosion(tumour == 1, _IN_PLANE, iterations=2)
    background = (ndimage.binary_erosion(liver > 0, _IN_PLANE, iterations=2)
                  & ~ndimage.binary_dilation(tumour > 0, _IN_PLANE, iterations=8))
    assert inner.sum() > 20 and background.sum() > 500
    return float(np.percentile(img[inner], q) / np.median(img[background]))


def test_masks_lie_on_the_enhancing_tumour(studies):
    for v, (p, res, _) in studies.items():
        ap = _ratio(res, "AP")
        dp = _ratio(res, "DP")
        assert ap > 1.15, f"vendor {v}: tumour not hyper-enhancing in AP inside its mask ({ap:.2f})"
        assert dp < ap - 0.2, f"vendor {v}: no wash-out from AP ({ap:.2f}) to DP ({dp:.2f})"
        # A mask shifted by its own diameter no longer sits on the enhancement.
        img = sitk.GetArrayFromImage(_read_series(res, "AP")).astype(float)
        tumour = sitk.GetArrayFromImage(_masks(res, "AP")[0]) == 1
        shift = int(np.ptp(np.nonzero(tumour)[2])) + 3
        moved = np.roll(tumour, shift if np.nonzero(tumour)[2].mean() < 64 else -shift, axis=2)
        assert img[tumour].mean() > 1.1 * img[moved].mean()


def test_t2_shows_the_tumour_brighter_than_liver(studies):
    for v, (_, res, _) in studies.items():
        t2 = _ratio(res, "T2")
        assert t2 > 1.2, f"vendor {v}: T2 tumour/liver {t2:.2f}"


def test_enhancement_follows_aggressiveness(tmp_path):
    """Same patient and draws, only the tumour biology differs: an aggressive tumour enhances more
    in AP and washes out more in PVP."""
    base = _patients_per_vendor()["C"]
    common = dict(heterogeneity=0.05, rim=0.1, tumour_size_cm=3.0, tumour_number=1)
    mild = dataclasses.replace(base, aggressiveness=-1.5, arterial_aggressiveness=-1.5, washout_aggressiveness=-1.5,
                               arterial_enhancement=0.3, washout=0.15, **common)
    bad = dataclasses.replace(base, aggressiveness=1.5, arterial_aggressiveness=1.5, washout_aggressiveness=1.5,
                              arterial_enhancement=0.9, washout=0.85, **common)
    out = {}
    for name, p in (("mild", mild), ("bad", bad)):
        res = write_mri_study(p, tmp_path / name / "d", tmp_path / name / "r", "default", base.rng("mri"))
        out[name] = {ph: _ratio(res, ph, q=50.0) for ph in ("AP", "PVP")}
    assert out["bad"]["AP"] > out["mild"]["AP"] + 0.2
    assert out["bad"]["PVP"] < out["mild"]["PVP"] - 0.15


def test_acquisition_times_follow_the_contrast_timeline(studies):
    for v, (_, res, _) in studies.items():
        times = {}
        for phase in PHASES:
            ds = pydicom.dcmread(res["series"][phase]["files"][0], stop_before_pixels=True)
            acq = dt.datetime.strptime(ds.AcquisitionDate + ds.AcquisitionTime, "%Y%m%d%H%M%S.%f")
            assert ds.ContentTime == ds.AcquisitionTime
            times[phase] = acq
            if phase == "T2":
                assert "ContrastBolusAgent" not in ds
                continue
            assert ds.ContrastBolusAgent and ds.ContrastBolusRoute == "IV"
            inj = dt.datetime.strptime(ds.AcquisitionDate + ds.ContrastBolusStartTime, "%Y%m%d%H%M%S.%f")
            times["injection"] = inj
        delay = {ph: (times[ph] - times["injection"]).total_seconds() for ph in ("T2", "AP", "PVP", "DP")}
        assert delay["T2"] < 0
        assert 20 <= delay["AP"] <= 35 and 60 <= delay["PVP"] <= 80 and 170 <= delay["DP"] <= 190
        assert res["truth"]["mri_AP_delay_s"] == pytest.approx(delay["AP"], abs=1e-3)


def _centroid_mm(mask: sitk.Image, label: int = 1) -> np.ndarray:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    return np.asarray(stats.GetCentroid(label))


def test_recorded_breath_hold_motion_moves_the_tumour(studies):
    for v, (_, res, _) in studies.items():
        ap = _centroid_mm(_masks(res, "AP")[0])
        for phase in ("T2", "PVP", "DP"):
            m = res["motion"][phase]
            motion = RigidMotion(tuple(np.deg2rad(m["rotation_deg"])), tuple(m["translation_mm"]),
                                 tuple(m["centre_mm"]))
            expected = np.asarray(motion.transform().TransformPoint(tuple(ap)))
            seen = _centroid_mm(_masks(res, phase)[0])
            shift = np.linalg.norm(np.asarray(m["translation_mm"]))
            assert 1.0 < shift < 12.0
            # Within voxel discretisation (4-6 mm slices), far closer than the shift itself.
            assert np.linalg.norm(seen - expected) < 1.5, f"{v} {phase}: {seen} vs {expected}"


def test_largest_nodule_is_label_one_and_liver_contains_tumours(studies):
    for v, (p, res, _) in studies.items():
        tumour, liver = (sitk.GetArrayFromImage(m) for m in _masks(res, "PVP"))
        labels = sorted(set(np.unique(tumour)) - {0})
        assert labels == list(range(1, len(res["nodules"]) + 1))
        sizes = [int((tumour == k).sum()) for k in labels]
        assert sizes[0] == max(sizes)
        assert res["nodules"][0]["diameter_mm"] == pytest.approx(10 * p.tumour_size_cm, rel=1e-3)
        assert np.all(liver[tumour > 0] == 1)
        for phase in PHASES:  # every nodule is imaged whole in every series despite the motion
            t = sitk.GetArrayFromImage(_masks(res, phase)[0]) > 0
            assert not (t[0].any() or t[-1].any() or t[:, 0].any() or t[:, -1].any()
                        or t[:, :, 0].any() or t[:, :, -1].any()), f"{v} {phase}: tumour cut by the FOV"
        assert liver.sum() > 5 * (tumour > 0).sum() or p.tumour_size_cm > 6


def test_second_observer_masks_are_close_but_not_identical(studies):
    for v, (_, res, _) in studies.items():
        for phase in PHASES:
            truth = sitk.GetArrayFromImage(_masks(res, phase)[0]) == 1
            other = sitk.GetArrayFromImage(sitk.ReadImage(res["observer2_rois"][phase]["tumour"])) == 1
            dice = 2 * (truth & other).sum() / (truth.sum() + other.sum())
            assert 0.6 < dice < 1.0, f"{v} {phase}: dice {dice:.3f}"


def test_same_seed_same_study_other_seed_other_pixels(studies, tmp_path):
    p, res, root = studies["B"]
    again = write_mri_study(p, tmp_path / "dicom", tmp_path / "rois", "default", p.rng("mri"))
    assert again["series_uids"] == res["series_uids"] and again["truth"] == res["truth"]
    for phase in PHASES:
        for a, b in zip(res["series"][phase]["files"], again["series"][phase]["files"]):
            assert Path(a).read_bytes() == Path(b).read_bytes()
        for kind in ("tumour", "liver"):
            assert (sitk.GetArrayFromImage(sitk.ReadImage(res["rois"][phase][kind])) ==
                    sitk.GetArrayFromImage(sitk.ReadImage(again["rois"][phase][kind]))).all()
    other = write_mri_study(p, tmp_path / "o", tmp_path / "or", "default", np.random.default_rng(1))
    a = pydicom.dcmread(res["series"]["AP"]["files"][10]).pixel_array
    b = pydicom.dcmread(other["series"]["AP"]["files"][10]).pixel_array
    assert not np.array_equal(a, b)


def test_unknown_size_is_refused(tmp_path):
    p = draw_latents(1, seed=0)[0]
    with pytest.raises(ValueError, match="size"):
        write_mri_study(p, tmp_path, tmp_path, "huge", p.rng("mri"))


@pytest.mark.slow
def test_realistic_size_is_finer_and_valid(tmp_path):
    p = _patients_per_vendor()["C"]
    res = write_mri_study(p, tmp_path / "d", tmp_path / "r", "realistic", p.rng("mri"))
    img = _read_series(res, "AP")
    assert img.GetSize()[0] == 256 and 60 <= img.GetSize()[2] <= 80
    assert img.GetSpacing()[2] < 4.0
    mask = sitk.ReadImage(res["rois"]["AP"]["tumour"])
    sitk.Mask(sitk.Cast(img, sitk.sitkFloat32), mask > 0)
    if shutil.which("dciodvfy"):
        run = subprocess.run(["dciodvfy", res["series"]["AP"]["files"][0]], capture_output=True, text=True)
        assert "Error" not in run.stdout + run.stderr
