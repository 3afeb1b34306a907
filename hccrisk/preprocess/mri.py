"""MRI ingest: the DICOM series of one patient's phases -> normalised 1 mm volumes registered to AP.

Writes (docs/architecture.md, "Ingested layout"):

    out_dir/mri/<phase>.nii.gz               float32, every phase on the SAME grid: AP's 1 mm grid
    out_dir/mri/transforms/<phase>_to_AP.tfm  rigid transform, ITK convention (AP point -> phase point)
    out_dir/mri/mri.json                      what was done, with the numbers (the dict returned)

Per phase: read_series -> N4 on the native grid (fit on a shrunk copy) -> rigid registration to AP ->
ONE linear interpolation onto AP's 1 mm grid (native -> registered 1 mm in a single resampling, so the
image is not blurred twice) -> normalisation inside the body mask. AP itself is resampled to a 1 mm grid
with its own direction over its own field of view, cropped to the body + 1 cm; that grid is the reference
for every phase.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import SimpleITK as sitk

import hccrisk
from hccrisk.dicom.mr import describe_geometry, read_series
from hccrisk.errors import InputError, MissingDataError
from hccrisk.log import get_logger
from hccrisk.preprocess.mri_register import register_rigid, transform_parameters
from hccrisk.preprocess.mri_steps import (NORMALISATIONS, apply_log_bias_field, body_mask, crop_to_mask,
                                          isotropic_grid, n4_correct_with_field, normalise, resample_onto, same_grid)

PHASES = ("T2", "AP", "PVP", "DP")
REFERENCE = "AP"
# The contrast phases of one dynamic run: same sequence, same coil set-up, usually the same grid. Their bias
# field is the receive coil's, fixed to the scanner rather than to the (breathing) anatomy, so AP's N4 fit
# is applied to PVP and DP when they lie on AP's grid (one fit instead of three; T2 gets its own).
DYNAMIC_PHASES = ("AP", "PVP", "DP")
SPACING_MM = 1.0
CROP_MARGIN_MM = 10.0

log = get_logger(__name__)


def mri_dir(out_dir: Path) -> Path:
    """The folder holding a patient's ingested MRI (out_dir is the patient's ingest folder)."""
    return Path(out_dir) / "mri"


def transform_path(out_dir: Path, phase: str) -> Path:
    """Where the `<phase>_to_AP` transform of an ingested patient lies."""
    return mri_dir(out_dir) / "transforms" / f"{phase}_to_{REFERENCE}.tfm"


def _empty_grid(image: sitk.Image) -> sitk.Image:
    """A uint8 image with `image`'s geometry (a resampling reference that holds no pixels worth keeping)."""
    grid = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    grid.CopyInformation(image)
    return grid


MIN_SLICES = 3  # N4, the 1 mm grid and a 3D registration need a volume, not a slice or two


def _read_volume(phase: str, files: Sequence[Path]) -> sitk.Image:
    label = _series_label(phase, files)
    image = read_series(files, name=label)
    if image.GetSize()[2] < MIN_SLICES:
        raise InputError(label, f"only {image.GetSize()[2]} slice(s): not a volume (at least {MIN_SLICES} needed)")
    return image


def _series_label(phase: str, files: Sequence[Path]) -> str:
    """How error messages name a phase's series."""
    return f"MRI {phase} series ({len(files)} files in {Path(files[0]).parent})"


def _bias_correct(image: sitk.Image, n4: bool,
                  shared: tuple[sitk.Image, sitk.Image | None, dict] | None = None) -> tuple[sitk.Image, sitk.Image | None, dict]:
    """(corrected image, log bias field or None, N4 record). ``shared``: (native image, log bias field, record)
    of the phase whose fit this one may reuse (AP for PVP/DP): reused when both lie on the same grid."""
    if not n4:
        return sitk.Cast(image, sitk.sitkFloat32), None, {"applied": False, "reason": "disabled"}
    if shared is not None and shared[1] is not None and same_grid(image, shared[0]):
        record = {k: v for k, v in shared[2].items() if k != "shared_from"}
        return apply_log_bias_field(image, shared[1]), shared[1], {**record, "shared_from": REFERENCE}
    return n4_correct_with_field(image)


def _finish(image_1mm: sitk.Image, normalisation: str, path: Path, mask: sitk.Image | None = None) -> dict:
    """Normalise inside the body mask and write the phase volume; returns the normalisation record."""
    mask = body_mask(image_1mm) if mask is None else mask
    normalised, info = normalise(image_1mm, mask, normalisation)
    sitk.WriteImage(normalised, str(path), useCompression=True, compressionLevel=1)
    _check_written(path, normalised)
    return info


def _check_written(path: Path, image: sitk.Image) -> None:
    """Raise OSError when a .nii.gz is incomplete: ITK's NIfTI writer only prints "wrote only 0 of N bytes"
    on a full disk and returns, which left truncated phase files in patients marked done. The gzip
    trailer's last 4 bytes hold the uncompressed size (mod 2**32): the header (352 bytes with ITK) plus
    the voxels. Costs one 4-byte read."""
    expected = image.GetNumberOfPixels() * image.GetSizeOfPixelComponent()
    try:
        with open(path, "rb") as handle:
            handle.seek(-4, 2)
            stored = int.from_bytes(handle.read(4), "little")
    except OSError as exc:
        raise OSError(f"{path}: not written ({exc})") from None
    if not 0 <= (stored - expected) % 2**32 < 65536:
        path.unlink(missing_ok=True)
        raise OSError(f"{path}: written incompletely (disk full?): the gzip stream holds {stored} bytes, "
                      f"the volume needs {expected} + header")


def ingest_mri(phase_files: dict[str, Sequence[Path]], out_dir: Path, *, normalisation: str = "zscore",
               n4: bool = True, register: bool = True) -> dict:
    """Ingest one patient's MRI phases (see the module docstring for the outputs).

    Args:
        phase_files: phase ("T2", "AP", "PVP", "DP") -> the DICOM files of its selected series.
            A phase absent or with no files is reported missing.
        out_dir: the patient's ingest folder; outputs go to out_dir/mri/.
        normalisation: "zscore" (inside the body, default) or "percentile" (1-99 -> 0-1, clipped).
        n4: N4 bias-field correction on/off.
        register: rigid registration of non-AP phases to AP on/off (off: identity transforms, i.e. the
            scanner's coordinates are trusted).
    Returns:
        the summary also written to mri.json: ``phases`` (per phase: status "ok" / "missing" / "error",
        file names, native geometry, N4, registration and normalisation records, timings in s),
        ``missing`` (phases not ingested: absent or failed), ``problems`` (list of {where, problem} for
        series that failed), ``grid`` (the common 1 mm output geometry), ``settings``, ``timings_s``.
    Raises:
        MissingDataError: no AP series. InputError: the AP series is unreadable or geometrically broken
            (a broken non-AP series is reported in ``problems`` instead and the rest goes on), an unknown
            phase key, or an unknown normalisation.
    """
    unknown = sorted(set(phase_files) - set(PHASES))
    if unknown:
        raise InputError(out_dir, f"unknown MRI phase(s) {unknown}; expected among {list(PHASES)}")
    if normalisation not in NORMALISATIONS:
        raise InputError(out_dir, f"unknown normalisation {normalisation!r}; expected one of {NORMALISATIONS}")
    if not phase_files.get(REFERENCE):
        raise MissingDataError(out_dir, "no AP (arterial phase) MRI series: AP is the registration "
                               "reference, so the MRI of this patient cannot be ingested")
    t_start, cpu_start = time.perf_counter(), time.process_time()
    folder = mri_dir(out_dir)
    summary: dict = {
        "hccrisk_version": hccrisk.__version__,
        "reference": REFERENCE,
        "settings": {"spacing_mm": SPACING_MM, "normalisation": normalisation, "n4": n4, "register": register,
                     "interpolation": "linear", "transform_convention": "ITK: maps AP points to phase points",
                     "n4_shared": "AP's bias field reused for PVP/DP on AP's native grid"},
        "phases": {},
        "missing": [],
        "problems": [],
    }

    # Reference: AP on its own 1 mm grid.
    t0 = time.perf_counter()
    ap_native = _read_volume(REFERENCE, phase_files[REFERENCE])
    t_read = time.perf_counter()
    (folder / "transforms").mkdir(parents=True, exist_ok=True)  # only once AP is known to be readable
    ap_corrected, ap_log_bias, ap_n4 = _bias_correct(ap_native, n4)
    ap_field = (ap_native, ap_log_bias, ap_n4)
    t_n4 = time.perf_counter()
    full_grid = isotropic_grid(ap_native, SPACING_MM)
    ap_full = resample_onto(ap_corrected, full_grid)
    # The reference grid is AP's field of view cropped to the body (+ margin): the air around it would
    # be up to half of every file and of the registration's work.
    ap_1mm, ap_mask, crop = crop_to_mask(ap_full, body_mask(ap_full), CROP_MARGIN_MM)
    grid = _empty_grid(ap_1mm)
    identity = sitk.Euler3DTransform()
    sitk.WriteTransform(identity, str(transform_path(out_dir, REFERENCE)))
    t_res = time.perf_counter()
    norm = _finish(ap_1mm, normalisation, folder / f"{REFERENCE}.nii.gz", ap_mask)
    summary["grid"] = {**describe_geometry(grid), "crop": {"margin_mm": CROP_MARGIN_MM, **crop,
                                                           "uncropped_size": list(full_grid.GetSize())}}
    summary["phases"][REFERENCE] = {
        "status": "ok", "file": f"{REFERENCE}.nii.gz",
        "transform": f"transforms/{REFERENCE}_to_{REFERENCE}.tfm", "n_files": len(phase_files[REFERENCE]),
        "native": describe_geometry(ap_native), "n4": ap_n4,
        "registration": {"reference": True, **transform_parameters(identity)},
        "normalisation": norm,
        "timings_s": _timings(t0, t_read, t_n4, t_n4, t_res, time.perf_counter()),
    }

    for phase in PHASES:
        if phase == REFERENCE:
            continue
        files = phase_files.get(phase) or []
        if not files:
            summary["missing"].append(phase)
            summary["phases"][phase] = {"status": "missing"}
            continue
        try:
            summary["phases"][phase] = _ingest_phase(
                phase, files, out_dir, grid, ap_1mm, normalisation=normalisation, n4=n4, register=register,
                shared_field=ap_field if phase in DYNAMIC_PHASES else None)
        except InputError as exc:
            # No paths in the log line: they may hold the patient ID (the summary keeps the details).
            log.warning("MRI %s series not ingested (bad series; see the summary's problems)", phase)
            summary["missing"].append(phase)
            summary["problems"].append({"where": exc.where, "problem": exc.problem})
            summary["phases"][phase] = {"status": "error", "problem": str(exc)}

    for phase in summary["missing"]:  # a re-run must not leave an earlier run's volume beside this summary
        (folder / f"{phase}.nii.gz").unlink(missing_ok=True)
        transform_path(out_dir, phase).unlink(missing_ok=True)
    # wall and CPU (this process, all its threads): on a shared machine the wall time says little
    summary["timings_s"] = {"total": round(time.perf_counter() - t_start, 3),
                            "cpu": round(time.process_time() - cpu_start, 3)}
    (folder / "mri.json").write_text(json.dumps(summary, indent=2))
    return summary


def _ingest_phase(phase: str, files: Sequence[Path], out_dir: Path, grid: sitk.Image, ap_1mm: sitk.Image,
                  *, normalisation: str, n4: bool, register: bool,
                  shared_field: tuple[sitk.Image, sitk.Image | None, dict] | None = None) -> dict:
    t0 = time.perf_counter()
    native = _read_volume(phase, files)
    t_read = time.perf_counter()
    corrected, _, n4_info = _bias_correct(native, n4, shared_field)
    t_n4 = time.perf_counter()
    if register:
        # No metric mask: the body-air boundary is the strongest common edge of two phases; a body mask
        # cuts it in half (worst-case error 1.5 mm instead of 0.3 mm on the test phantoms).
        transform, reg_info = register_rigid(ap_1mm, corrected)
    else:
        transform = sitk.Euler3DTransform()
        reg_info = {"applied": False, **transform_parameters(transform)}
    t_reg = time.perf_counter()
    sitk.WriteTransform(transform, str(transform_path(out_dir, phase)))
    on_grid = resample_onto(corrected, grid, transform)
    # Share of the reference grid that this phase's field of view covers (T2 slabs are often shorter).
    field_of_view = sitk.Image(native.GetSize(), sitk.sitkUInt8) + 1
    field_of_view.CopyInformation(native)
    coverage = resample_onto(field_of_view, grid, transform, sitk.sitkNearestNeighbor)
    covered = float(sitk.GetArrayViewFromImage(coverage).mean())
    t_res = time.perf_counter()
    norm = _finish(on_grid, normalisation, mri_dir(out_dir) / f"{phase}.nii.gz")
    return {
        "status": "ok", "file": f"{phase}.nii.gz", "transform": f"transforms/{phase}_to_{REFERENCE}.tfm",
        "n_files": len(files), "native": describe_geometry(native), "n4": n4_info,
        "registration": reg_info, "grid_coverage": round(covered, 4), "normalisation": norm,
        "timings_s": _timings(t0, t_read, t_n4, t_reg, t_res, time.perf_counter()),
    }


def _timings(t0: float, t_read: float, t_n4: float, t_reg: float, t_res: float, t_end: float) -> dict:
    return {"read": round(t_read - t0, 3), "n4": round(t_n4 - t_read, 3), "register": round(t_reg - t_n4, 3),
            "resample": round(t_res - t_reg, 3), "normalise_write": round(t_end - t_res, 3)}


def resample_mask_to_ingested(mask_image: sitk.Image | Path | str, phase: str, out_dir: Path) -> sitk.Image:
    """Map a mask drawn on a phase's native series into the ingested (1 mm, registered to AP) space.

    Args:
        mask_image: label mask (image or NIfTI path) with the geometry of the phase's DICOM series
            (as `read_series` / ImageSeriesReader give it), e.g. rois/observer1/<id>/mri_PVP_tumour.nii.gz.
        phase: the series' phase ("T2", "AP", "PVP", "DP").
        out_dir: the patient's ingest folder (the one holding mri/).
    Returns:
        the mask on the ingested grid (same size/spacing/origin/direction as out_dir/mri/<phase>.nii.gz),
        nearest-neighbour, same pixel type as the input; 0 outside the phase's field of view.
    Raises:
        InputError: unknown phase, or the patient's MRI (grid or that phase's transform) is not ingested.
    """
    if phase not in PHASES:
        raise InputError(str(mask_image), f"unknown MRI phase {phase!r}; expected among {list(PHASES)}")
    reference = mri_dir(out_dir) / f"{REFERENCE}.nii.gz"
    tfm = transform_path(out_dir, phase)
    for needed in (reference, tfm):
        if not needed.is_file():
            raise InputError(needed, f"missing: the {phase} MRI of this patient has not been ingested")
    if not isinstance(mask_image, sitk.Image):
        mask_image = sitk.ReadImage(str(mask_image))
    header = sitk.ImageFileReader()
    header.SetFileName(str(reference))
    header.ReadImageInformation()
    grid = sitk.Image(header.GetSize(), sitk.sitkUInt8)
    grid.SetSpacing(header.GetSpacing())
    grid.SetOrigin(header.GetOrigin())
    grid.SetDirection(header.GetDirection())
    return resample_onto(mask_image, grid, sitk.ReadTransform(str(tfm)), sitk.sitkNearestNeighbor)
