"""MRI ingest on analytic phantoms written as DICOM series with known geometry, bias and misregistration.

The phantom is a function of physical position (mm), so every series (any grid, any orientation, any
planted rigid motion) is sampled exactly, and the truth (tumour, liver) is known in any space.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.valuerep import DS
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from hccrisk.dicom.mr import read_series
from hccrisk.errors import InputError, MissingDataError
from hccrisk.preprocess.mri import ingest_mri, resample_mask_to_ingested
from hccrisk.preprocess.mri_steps import body_mask, isotropic_grid, n4_correct, normalise, resample_onto

# ---------------------------------------------------------------- phantom -----------------------------
TUMOUR_CENTRE = np.array([-45.0, 10.0, 8.0])
TUMOUR_RADIUS = 14.0
# (centre, semi-axes) in mm, LPS: x to patient left, y posterior, z head.
BODY = (np.array([0.0, 0.0, 0.0]), np.array([95.0, 70.0, 200.0]))
LIVER = (np.array([-40.0, 0.0, 10.0]), np.array([50.0, 42.0, 45.0]))
KIDNEY = (np.array([45.0, 35.0, -25.0]), np.array([15.0, 12.0, 25.0]))
CONTRAST = {  # body, liver, tumour, kidney, aorta, spine
    "AP": (200, 420, 900, 700, 1500, 300),
    "PVP": (220, 600, 450, 800, 700, 300),
    "DP": (220, 550, 380, 600, 500, 300),
    "T2": (150, 250, 600, 500, 100, 200),
}


def _inside(points: np.ndarray, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Soft (about 1 mm edge) indicator of an ellipsoid, so sampled edges are partial-volume-like."""
    r = np.sqrt((((points - centre) / axes) ** 2).sum(axis=-1))
    return 1.0 / (1.0 + np.exp((r - 1.0) * axes.min() / 0.5))


def tumour(points: np.ndarray) -> np.ndarray:
    return _inside(points, TUMOUR_CENTRE, np.full(3, TUMOUR_RADIUS))


def liver(points: np.ndarray) -> np.ndarray:
    return _inside(points, *LIVER) * (1 - tumour(points))


def anatomy(points: np.ndarray, phase: str) -> np.ndarray:
    """Intensity of the phantom at physical points (..., 3) mm."""
    body_v, liver_v, tumour_v, kidney_v, aorta_v, spine_v = CONTRAST[phase]
    xy = points[..., :2]
    aorta = _inside(np.concatenate([xy, np.zeros_like(xy[..., :1])], -1), np.array([15.0, 30.0, 0]),
                    np.array([9.0, 9.0, 1e3]))
    spine = _inside(np.concatenate([xy, np.zeros_like(xy[..., :1])], -1), np.array([0.0, 52.0, 0]),
                    np.array([16.0, 14.0, 1e3]))
    body = _inside(points, *BODY)
    t, lv, k = tumour(points), liver(points), _inside(points, *KIDNEY)
    rest = np.clip(1 - lv - t - k - aorta - spine, 0, 1)
    return body * (rest * body_v + lv * liver_v + t * tumour_v + k * kidney_v + aorta * aorta_v
                   + spine * spine_v)


def grid_points(image: sitk.Image) -> np.ndarray:
    """Physical points (z, y, x, 3) of every voxel centre of an image (array order)."""
    size = image.GetSize()
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in size[::-1]], indexing="ij")[::-1], axis=-1)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    return np.asarray(image.GetOrigin()) + (idx * np.asarray(image.GetSpacing())) @ direction.T


def rigid(rotation_deg: tuple[float, float, float], translation: tuple[float, float, float],
          centre: np.ndarray = LIVER[0]) -> sitk.Euler3DTransform:
    t = sitk.Euler3DTransform()
    t.SetCenter(centre.tolist())
    t.SetRotation(*[math.radians(a) for a in rotation_deg])
    t.SetTranslation(translation)
    return t


def apply_rigid(transform: sitk.Transform, points: np.ndarray) -> np.ndarray:
    """A rigid (matrix + offset) transform applied to points (..., 3), vectorised."""
    euler = sitk.Euler3DTransform(transform)
    matrix, centre = np.asarray(euler.GetMatrix()).reshape(3, 3), np.asarray(euler.GetCenter())
    return (points - centre) @ matrix.T + centre + np.asarray(euler.GetTranslation())


def make_grid(size=(96, 96, 36), spacing=(2.2, 2.2, 5.0), direction=np.eye(3), centre=(0.0, 0.0, 0.0)):
    grid = sitk.Image(list(size), sitk.sitkUInt8)
    grid.SetSpacing(spacing)
    grid.SetDirection(np.asarray(direction, float).ravel().tolist())
    half = (np.asarray(size) - 1) / 2 * np.asarray(spacing)
    grid.SetOrigin((np.asarray(centre) - np.asarray(direction) @ half).tolist())
    return grid


def phase_image(phase: str, grid: sitk.Image, motion: sitk.Transform | None = None,
                bias: bool = False, noise: float = 8.0, seed: int = 0) -> sitk.Image:
    """The phantom seen by a series on `grid`; `motion` maps reference (AP) points to this phase's points."""
    points = grid_points(grid)
    if motion is not None:  # anatomy at p in this series was at motion^-1(p) in the reference
        points = apply_rigid(motion.GetInverse(), points)
    values = anatomy(points, phase)
    if bias:  # smooth multiplicative field, about 0.6 to 1.5 across the body
        p = grid_points(grid)
        values = values * np.exp(0.004 * p[..., 0] - 0.003 * p[..., 1] + 0.0025 * p[..., 2])
    values = values + np.random.default_rng(seed).normal(0, noise, values.shape)
    image = sitk.GetImageFromArray(np.clip(values, 0, None).astype(np.float32))
    image.CopyInformation(grid)
    return image


def _ds(values) -> list[DS]:
    return [DS(float(v), auto_format=True) for v in values]


def write_series(image: sitk.Image, folder: Path, *, slope: float = 2.0, intercept: float = -10.0) -> list[Path]:
    """Write a 3D image as a classic single-frame MR series (uint16 + rescale), files in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    arr = sitk.GetArrayFromImage(image)
    stored = np.clip(np.round((arr - intercept) / slope), 0, 65535).astype(np.uint16)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    order = np.random.default_rng(1).permutation(arr.shape[0])  # InstanceNumber does not follow position
    for k in range(arr.shape[0]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientID, ds.InstanceNumber = "MR", "PHANTOM", int(order[k]) + 1
        ds.ImagePositionPatient = _ds(image.TransformIndexToPhysicalPoint((0, 0, k)))
        ds.ImageOrientationPatient = _ds([*direction[:, 0], *direction[:, 1]])
        ds.PixelSpacing = _ds([image.GetSpacing()[1], image.GetSpacing()[0]])
        ds.SliceThickness = _ds([image.GetSpacing()[2]])[0]
        ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = stored[k].tobytes()
        path = folder / f"IM{order[k]:04d}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return [paths[i] for i in order]


OBLIQUE = sitk.Euler3DTransform((0, 0, 0), math.radians(8), math.radians(-5), math.radians(12)).GetMatrix()


# ---------------------------------------------------------------- read_series --------------------------
@pytest.fixture(scope="module")
def oblique_series(tmp_path_factory) -> tuple[sitk.Image, list[Path]]:
    grid = make_grid(size=(40, 32, 12), spacing=(1.7, 1.9, 4.0),
                     direction=np.asarray(OBLIQUE).reshape(3, 3), centre=(-30.0, 5.0, 10.0))
    image = phase_image("AP", grid, noise=0)
    return image, write_series(image, tmp_path_factory.mktemp("oblique"))


def test_read_series_geometry_round_trip(oblique_series):
    image, files = oblique_series
    volume = read_series(files)
    assert volume.GetSize() == image.GetSize()
    np.testing.assert_allclose(volume.GetSpacing(), image.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.GetOrigin(), image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(volume.GetDirection(), image.GetDirection(), atol=1e-5)
    # Rescale applied: the stored uint16 values come back as the written intensities (to rounding).
    np.testing.assert_allclose(sitk.GetArrayFromImage(volume), sitk.GetArrayFromImage(image), atol=1.01)


def test_read_series_matches_simpleitk_series_reader(oblique_series):
    _, files = oblique_series
    folder = str(files[0].parent)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
    reference = reader.Execute()
    volume = read_series(files)
    np.testing.assert_allclose(volume.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(volume.GetSpacing(), reference.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(volume.GetDirection(), reference.GetDirection(), atol=1e-5)
    np.testing.assert_allclose(sitk.GetArrayFromImage(volume), sitk.GetArrayFromImage(reference), atol=1e-3)


def _edit(files: list[Path], index: int, **changes) -> None:
    ds = pydicom.dcmread(files[index])
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(files[index])


def _sorted_by_position(files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))


@pytest.mark.parametrize("problem, message", [
    ("orientation", "inconsistent orientation"),
    ("spacing", "inconsistent pixel spacing"),
    ("dimensions", "inconsistent dimensions"),
    ("duplicate", "duplicate slice positions"),
    ("missing", "missing slice(s)"),
    ("uneven", "uneven slice spacing"),
    ("tilted", "do not lie along the slice normal"),
    ("two_series", "different series"),
    ("not_dicom", "not a readable DICOM file"),
    ("no_position", "missing ImagePositionPatient"),
])
def test_read_series_rejects_bad_geometry(tmp_path, problem, message):
    image = make_grid(size=(16, 16, 8), spacing=(2.0, 2.0, 3.0))
    image = phase_image("AP", image, noise=0)
    files = _sorted_by_position(write_series(image, tmp_path / "s"))
    ds = pydicom.dcmread(files[3])
    z = float(ds.ImagePositionPatient[2])
    if problem == "orientation":
        _edit(files, 3, ImageOrientationPatient=[1, 0, 0, 0, 0.98, 0.199])
    elif problem == "spacing":
        _edit(files, 3, PixelSpacing=[2.0, 2.1])
    elif problem == "dimensions":
        ds.Rows, ds.PixelData = 8, ds.PixelData[: 8 * 16 * 2]
        ds.save_as(files[3])
    elif problem == "duplicate":
        _edit(files, 3, ImagePositionPatient=pydicom.dcmread(files[4]).ImagePositionPatient)
    elif problem == "missing":
        files[3].unlink()
        files.pop(3)
    elif problem == "uneven":
        _edit(files, 3, ImagePositionPatient=[*ds.ImagePositionPatient[:2], z + 0.8])
    elif problem == "tilted":
        _edit(files, 3, ImagePositionPatient=[ds.ImagePositionPatient[0] + 1.5, *ds.ImagePositionPatient[1:]])
    elif problem == "two_series":
        _edit(files, 3, SeriesInstanceUID=generate_uid())
    elif problem == "not_dicom":
        files[3].write_bytes(b"this is not DICOM")
    elif problem == "no_position":
        del ds.ImagePositionPatient
        ds.save_as(files[3])
    with pytest.raises(InputError) as err:
        read_series(files, name="patient X AP")
    assert message in str(err.value)
    assert "patient X AP" in str(err.value) or files[3].name in str(err.value)


def test_read_series_without_files_names_the_series():
    with pytest.raises(InputError, match="patient Y PVP: no files"):
        read_series([], name="patient Y PVP")


# ---------------------------------------------------------------- steps --------------------------------
def test_resampling_to_1mm_keeps_extent_and_is_exact_on_a_linear_ramp():
    grid = make_grid(size=(37, 29, 11), spacing=(1.37, 1.61, 4.3), direction=np.asarray(OBLIQUE).reshape(3, 3))
    p = grid_points(grid)
    ramp = sitk.GetImageFromArray((2.0 * p[..., 0] - 0.5 * p[..., 1] + 0.25 * p[..., 2]).astype(np.float32))
    ramp.CopyInformation(grid)
    iso = isotropic_grid(ramp, 1.0)
    assert iso.GetSpacing() == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(iso.GetDirection(), grid.GetDirection())
    extent_in = np.asarray(grid.GetSize()) * np.asarray(grid.GetSpacing())
    extent_out = np.asarray(iso.GetSize(), float)
    assert np.all(np.abs(extent_out - extent_in) <= 0.5 + 1e-9)
    centre = lambda im: np.asarray(im.TransformContinuousIndexToPhysicalPoint(
        ((np.asarray(im.GetSize()) - 1) / 2).tolist()))
    np.testing.assert_allclose(centre(iso), centre(grid), atol=1e-6)
    out = resample_onto(ramp, iso)
    q = grid_points(iso)
    expected = 2.0 * q[..., 0] - 0.5 * q[..., 1] + 0.25 * q[..., 2]
    inner = (slice(5, -5),) * 3  # away from the faces, where half a voxel lies outside the input
    np.testing.assert_allclose(sitk.GetArrayFromImage(out)[inner], expected[inner], atol=2e-3)


def test_n4_reduces_a_planted_bias():
    grid = make_grid(size=(80, 64, 30), spacing=(2.5, 2.5, 5.0), centre=(-20.0, 0.0, 10.0))
    biased = phase_image("PVP", grid, bias=True, noise=5.0)
    in_liver = liver(grid_points(grid)) > 0.99
    cv = lambda im: float(np.std(sitk.GetArrayViewFromImage(im)[in_liver]) /
                          np.mean(sitk.GetArrayViewFromImage(im)[in_liver]))
    corrected, info = n4_correct(biased)
    assert info["applied"] and info["bias_max"] / info["bias_min"] > 1.3
    assert cv(corrected) < 0.25 * cv(biased), (cv(biased), cv(corrected))


# ---------------------------------------------------------------- ingest_mri ---------------------------
MOTION = {"PVP": ((2.0, -1.0, 3.0), (4.0, -3.0, 6.0)), "DP": ((-1.5, 0.0, -2.0), (-3.0, 2.0, -5.0))}
AP_GRID = dict(size=(80, 72, 28), spacing=(2.5, 2.5, 5.0), centre=(-10.0, 0.0, 5.0))
LATE_GRID = dict(size=(84, 70, 30), spacing=(2.4, 2.6, 4.5), centre=(-12.0, 2.0, 3.0))


@pytest.fixture(scope="module")
def patient(tmp_path_factory) -> dict:
    """AP + moved PVP and DP (different grids, planted bias, known rigid motion), T2 absent; ingested."""
    root = tmp_path_factory.mktemp("patient")
    files = {"AP": write_series(phase_image("AP", make_grid(**AP_GRID), bias=True), root / "dicom" / "AP")}
    late_grid = make_grid(**LATE_GRID)
    for seed, (phase, (rotation, shift)) in enumerate(MOTION.items(), start=2):
        image = phase_image(phase, late_grid, rigid(rotation, shift), bias=True, seed=seed)
        files[phase] = write_series(image, root / "dicom" / phase)
    summary = ingest_mri({**files, "T2": []}, root / "out")
    return {"root": root, "files": files, "summary": summary, "out": root / "out", "late_grid": late_grid}


def test_ingest_writes_every_phase_on_the_ap_1mm_grid(patient):
    out, summary = patient["out"] / "mri", patient["summary"]
    assert summary["missing"] == ["T2"] and summary["phases"]["T2"]["status"] == "missing"
    assert json.loads((out / "mri.json").read_text()) == summary
    ap = sitk.ReadImage(str(out / "AP.nii.gz"))
    assert ap.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    # The grid is AP's field of view at 1 mm, cropped to the body + 1 cm: all of the body stays inside.
    full = isotropic_grid(read_series(patient["files"]["AP"]))
    extent = np.asarray(AP_GRID["size"]) * np.asarray(AP_GRID["spacing"])
    assert np.all(np.abs(np.asarray(full.GetSize()) - extent) <= 0.5)
    assert list(full.GetSize()) == summary["grid"]["crop"]["uncropped_size"]
    points = grid_points(full)[::3, ::3, ::3]
    body_points = points[_inside(points, *BODY) > 0.5]
    index = (body_points - np.asarray(ap.GetOrigin())) @ np.asarray(ap.GetDirection()).reshape(3, 3)
    assert np.all(index >= -0.5) and np.all(index <= np.asarray(ap.GetSize()) - 0.5)
    assert np.prod(ap.GetSize()) < 0.95 * np.prod(full.GetSize())  # the air was cropped
    for phase in ("AP", "PVP", "DP"):
        assert summary["phases"][phase]["status"] == "ok"
        image = sitk.ReadImage(str(out / f"{phase}.nii.gz"))
        assert image.GetPixelID() == sitk.sitkFloat32
        assert image.GetSize() == ap.GetSize()
        np.testing.assert_allclose(image.GetOrigin(), ap.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(image.GetDirection(), ap.GetDirection(), atol=1e-6)
        assert (out / "transforms" / f"{phase}_to_AP.tfm").is_file()
    # z-score inside the body: the liver of the (bias-corrected) AP is homogeneous and the tumour stands out.
    arr = sitk.GetArrayFromImage(ap)[::2, ::2, ::2]
    points = grid_points(ap)[::2, ::2, ::2]
    liver_v, tumour_v = arr[liver(points) > 0.99], arr[tumour(points) > 0.99]
    assert tumour_v.mean() - liver_v.mean() > 5 * liver_v.std()


def _displacement_errors(recovered: sitk.Transform, truth: sitk.Transform) -> np.ndarray:
    """|recovered(p) - truth(p)| (mm) over a 5 x 5 x 5 lattice spanning 80 mm around the liver."""
    lattice = grid_points(make_grid(size=(5, 5, 5), spacing=(20.0, 20.0, 20.0), centre=LIVER[0])).reshape(-1, 3)
    return np.asarray([np.linalg.norm(np.subtract(recovered.TransformPoint(p.tolist()),
                                                  truth.TransformPoint(p.tolist()))) for p in lattice])


@pytest.mark.parametrize("phase", list(MOTION))
def test_registration_recovers_the_planted_rigid_motion(patient, phase):
    truth = rigid(*MOTION[phase])
    saved = sitk.ReadTransform(str(patient["out"] / "mri" / "transforms" / f"{phase}_to_AP.tfm"))
    before = _displacement_errors(sitk.Euler3DTransform(), truth)
    errors = _displacement_errors(saved, truth)
    assert before.min() > 5.0  # the planted motion is several mm everywhere
    assert errors.max() < 1.0 and errors.mean() < 0.5, errors
    record = patient["summary"]["phases"][phase]["registration"]
    assert not record["fell_back_to_identity"] and record["metric_after"] < record["metric_before"]
    assert record["rotation_deg"] == pytest.approx(MOTION[phase][0], abs=0.6)


def test_tumour_mask_maps_into_the_ingested_space(patient):
    """A tumour mask drawn on the moved PVP series lands on the tumour of the ingested (AP) space."""
    late_grid = patient["late_grid"]
    native_tumour = tumour(apply_rigid(rigid(*MOTION["PVP"]).GetInverse(), grid_points(late_grid)))
    mask = sitk.GetImageFromArray((native_tumour > 0.5).astype(np.uint8))
    mask.CopyInformation(late_grid)
    mask_path = patient["root"] / "mri_PVP_tumour.nii.gz"
    sitk.WriteImage(mask, str(mask_path))
    mapped = resample_mask_to_ingested(mask_path, "PVP", patient["out"])
    reference = sitk.ReadImage(str(patient["out"] / "mri" / "PVP.nii.gz"))
    assert mapped.GetSize() == reference.GetSize() and mapped.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_allclose(mapped.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    got = sitk.GetArrayFromImage(mapped).astype(bool)
    truth = tumour(grid_points(reference)) > 0.5
    dice = 2 * (got & truth).sum() / (got.sum() + truth.sum())
    assert dice > 0.8, dice
    with pytest.raises(InputError, match="T2 MRI of this patient has not been ingested"):
        resample_mask_to_ingested(mask, "T2", patient["out"])


def test_missing_ap_raises_and_a_broken_phase_is_reported(patient, tmp_path):
    files = patient["files"]
    with pytest.raises(MissingDataError, match="no AP"):
        ingest_mri({"PVP": files["PVP"]}, tmp_path / "no_ap")
    assert not (tmp_path / "no_ap").exists()
    stale = tmp_path / "broken" / "mri" / "DP.nii.gz"  # from an earlier run: must not survive this one
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    broken = files["DP"][:5] + files["DP"][7:]  # two slices gone
    broken_dp = [p for p in files["DP"] if p not in broken]
    summary = ingest_mri({"AP": files["AP"], "DP": [*broken], "T2": files["PVP"][:2]}, tmp_path / "broken",
                         n4=False, register=False, normalisation="percentile")
    assert summary["phases"]["T2"]["status"] == "error"
    assert "2 slice(s): not a volume" in summary["problems"][0]["problem"]
    assert summary["phases"]["DP"]["status"] == "error" and summary["missing"] == ["T2", "PVP", "DP"]
    assert len(broken_dp) == 2 and "missing slice(s)" in summary["problems"][1]["problem"]
    assert not stale.exists()
    assert summary["phases"]["AP"]["normalisation"]["method"] == "percentile"
    ap = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "broken" / "mri" / "AP.nii.gz")))
    assert ap.min() == 0.0 and ap.max() == 1.0


def test_body_mask_and_normalisation_inside_it():
    grid = make_grid(size=(64, 56, 20), spacing=(3.5, 3.0, 8.0))
    image = phase_image("PVP", grid, noise=5.0)
    mask = body_mask(image)
    truth = _inside(grid_points(grid), *BODY) > 0.5
    got = sitk.GetArrayFromImage(mask).astype(bool)
    assert 2 * (got & truth).sum() / (got.sum() + truth.sum()) > 0.95
    z, info = normalise(image, mask, "zscore")
    inside = sitk.GetArrayFromImage(z)[got]
    assert inside.mean() == pytest.approx(0.0, abs=1e-4) and inside.std() == pytest.approx(1.0, abs=1e-4)
    scaled, info = normalise(image, mask, "percentile")
    values = sitk.GetArrayFromImage(scaled)
    raw = sitk.GetArrayFromImage(image)[got]
    assert values.min() == 0.0 and values.max() == 1.0
    assert np.mean(values[got] <= 0.0) == pytest.approx(np.mean(raw <= np.percentile(raw, 1)), abs=1e-3)
    with pytest.raises(ValueError, match="normalisation must be one of"):
        normalise(image, mask, "minmax")


def test_a_truncated_phase_file_is_an_error_not_a_done_patient(tmp_path):
    """On a full disk ITK's NIfTI writer prints an error and returns; the ingest must notice."""
    from hccrisk.preprocess.mri import _check_written

    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(20, 30, 40)).astype(np.float32))
    path = tmp_path / "AP.nii.gz"
    sitk.WriteImage(image, str(path), useCompression=True)
    _check_written(path, image)  # complete: no error
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="AP.nii.gz: written incompletely"):
        _check_written(path, image)
    assert not path.exists()  # a re-run must not find a half file
