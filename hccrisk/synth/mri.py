"""Synthetic contrast MRI study writer: one MR study per patient with a T2WI series and the arterial
(AP), portal venous (PVP) and delayed (DP) phases, as classic single-frame MR Image Storage objects,
plus ground-truth liver and tumour masks (NIfTI) on each series' own grid.

The images come from ``mri_anatomy`` (shapes), ``mri_render`` (signal, noise, bias) and
``mri_vendor`` (scanner conventions); see docs/synthetic.md, "MRI".
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage
from scipy import ndimage

from hccrisk.synth.common import da, patient_study_modules, save, sop_common, tm, uid_for
from hccrisk.synth.latent import PatientLatents
from hccrisk.synth.mri_anatomy import make_anatomy
from hccrisk.synth.mri_geometry import IDENTITY, SeriesGrid, breath_hold_motion, make_grid
from hccrisk.synth.mri_render import PHASES, bias_field, phase_signals, render, rician
from hccrisk.synth.mri_vendor import SERIES_NAMES, SIZES, Vendor, vendor

#: Nominal phase delays after injection (s): AP 20-35, PVP 60-80, DP ~180; T2 precedes the contrast.
_DELAYS_S = {"AP": (20.0, 35.0), "PVP": (60.0, 80.0), "DP": (170.0, 190.0)}
_FILE_LAYOUTS = ("series_folders", "flat", "numbered")


def write_mri_study(
    p: PatientLatents,
    dicom_dir: Path,
    roi_dir: Path,
    size: str,
    rng: np.random.Generator,
    observer2_roi_dir: Path | None = None,
) -> dict:
    """Write one patient's MR study under ``dicom_dir`` and the ground-truth masks under ``roi_dir``.

    ``size`` is "default" (128 x 128 x ~30 voxels of ~1.4 x 1.4 x 4 mm per series) or "realistic"
    (256 x 256 x 40-72). Masks: ``roi_dir/mri_<phase>_tumour.nii.gz`` (uint8, nodule number, 1 =
    largest) and ``mri_<phase>_liver.nii.gz`` (uint8 0/1) with exactly the geometry SimpleITK's
    ImageSeriesReader gives for that phase's series; ``observer2_roi_dir`` (optional) gets a second
    reader's perturbed tumour masks. Everything drawn comes from ``rng``.

    Returns a dict: ``study_uid``, ``frame_of_reference_uid``, ``series_uids`` {phase: uid},
    ``series`` {phase: description, number, files, acquisition time, delay after injection,
    geometry}, ``rois`` / ``observer2_rois`` {phase: {kind: path}}, ``motion`` {phase: rigid
    transform from AP space, see :class:`~hccrisk.synth.mri_geometry.RigidMotion`}, ``nodules``, and
    ``truth``: a flat dict of scalars for truth.csv.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    v = vendor(p.vendor)
    dicom_dir, roi_dir = Path(dicom_dir), Path(roi_dir)
    # Independent streams: e.g. the noise does not change when the tumour phenotype (and with it the
    # number of draws for its texture) does, nor the images when the second reader is asked for.
    draw = _streams(rng)
    grids = _series_grids(v, size, draw["geometry"])
    # Nodules stay inside what every series images, with room for the breath-hold motion.
    boxes = [g.bounds() for g in grids.values()]
    cover = np.max([b[0] for b in boxes], axis=0) + 10.0, np.min([b[1] for b in boxes], axis=0) - 10.0
    anat = make_anatomy(p, draw["anatomy"], cover)
    protocol = draw["protocol"]
    names = SERIES_NAMES[p.vendor][int(protocol.integers(len(SERIES_NAMES[p.vendor])))]
    times = _timeline(p, protocol)
    layout = _FILE_LAYOUTS[int(protocol.integers(len(_FILE_LAYOUTS)))]
    motions = {ph: (IDENTITY if ph == "AP" else breath_hold_motion(anat.liver_centre, draw["motion"]))
               for ph in PHASES}
    noise = draw["noise"]
    uid = _Uids(p)
    dynamic_bias = bias_field(grids["AP"].shape, noise)  # one receive coil setup for the dynamic run
    result: dict = {"study_uid": uid("study"), "frame_of_reference_uid": uid("frame-of-reference"),
                    "series_uids": {}, "series": {}, "rois": {}, "observer2_rois": {}, "motion": {},
                    "vendor": p.vendor, "field_strength_t": v.field_t, "file_layout": layout,
                    "injection_time": times["injection"].isoformat()}
    study = _study_dataset(p, v, uid, times)
    points: dict[SeriesGrid, np.ndarray] = {}  # the dynamic phases share one grid
    for number, phase in enumerate(PHASES):
        grid = grids[phase]
        delay = (times[phase] - times["injection"]).total_seconds()
        sig = phase_signals(p, phase, delay)
        if grid not in points:
            points[grid] = grid.points()
        anatomy_pts = points[grid] if motions[phase] is IDENTITY else motions[phase].to_anatomy(points[grid])
        clean, liver, labels = render(anat, anatomy_pts, sig, edge_mm=1.2 * grid.spacing[0])
        bias = dynamic_bias if phase != "T2" else bias_field(grid.shape, noise)
        sigma = v.noise_sigma * (0.6 if phase == "T2" else 1.0)
        noisy = rician(clean.reshape(grid.shape) * bias, sigma, noise)
        stored, slope = _to_stored(noisy, v, noise)
        series = _write_series(study, p, v, phase, names[phase], v.series_numbers[number], grid, stored,
                               slope, times, uid, dicom_dir, layout)
        labels3 = labels.reshape(grid.shape)
        rois = {"tumour": roi_dir / f"mri_{phase}_tumour.nii.gz", "liver": roi_dir / f"mri_{phase}_liver.nii.gz"}
        _write_mask(grid, labels3, rois["tumour"])
        _write_mask(grid, liver.reshape(grid.shape).astype(np.uint8), rois["liver"])
        result["rois"][phase] = {k: str(path) for k, path in rois.items()}
        if observer2_roi_dir is not None:
            path = Path(observer2_roi_dir) / f"mri_{phase}_tumour.nii.gz"
            _write_mask(grid, observer2_mask(labels3, draw["observer2"]), path)
            result["observer2_rois"][phase] = {"tumour": str(path)}
        result["series_uids"][phase] = series["series_uid"]
        result["series"][phase] = series
        result["motion"][phase] = motions[phase].as_dict()
    result["nodules"] = [{"label": n.label, "diameter_mm": round(n.diameter_mm, 2),
                          "centre_mm": [round(float(c), 2) for c in n.shape.centre]} for n in anat.nodules]
    result["truth"] = _truth_row(result)
    return result


class _Uids:
    """Stable UIDs of this patient's MR objects (cohort seed + patient id + object name)."""

    def __init__(self, p: PatientLatents):
        self._parts = (p.cohort_seed, p.patient_id, "mri")

    def __call__(self, *name: object) -> str:
        return str(uid_for(*self._parts, *name))


_STREAMS = ("geometry", "anatomy", "protocol", "motion", "noise", "observer2")


def _streams(rng: np.random.Generator) -> dict[str, np.random.Generator]:
    """One child generator per purpose, spawned from ``rng``."""
    return dict(zip(_STREAMS, rng.spawn(len(_STREAMS))))


def _series_grids(v: Vendor, size: str, rng: np.random.Generator) -> dict[str, SeriesGrid]:
    """The dynamic phases share one prescription; T2 has its own slices (and tilt)."""
    matrix, n_dyn, t2_matrix, n_t2 = SIZES[size]
    realistic = size == "realistic"
    fov = int(rng.choice(v.fov_realistic_mm if realistic else v.fov_mm))
    # Default size zooms on the liver (right upper quadrant); realistic covers the whole abdomen.
    centre = np.array([-10.0, 0.0, 0.0]) if realistic else np.array([-42.0, 2.0, 0.0])
    centre = centre + rng.normal(0.0, [4.0, 4.0, 5.0])
    oblique = rng.random() < v.oblique_probability
    tilt = float(rng.uniform(1.0, 4.0) * rng.choice([-1.0, 1.0])) if oblique else 0.0
    spacing, thick = v.dynamic_slices_realistic if realistic else v.dynamic_slices
    dynamic = make_grid(centre, fov, matrix, n_dyn, spacing, thick, tilt)
    t2_spacing, t2_thick = v.t2_slices_realistic if realistic else v.t2_slices
    t2 = make_grid(centre + np.array([0.0, 0.0, rng.normal(0.0, 3.0)]), fov, t2_matrix, n_t2,
                   t2_spacing, t2_thick, tilt)
    return {"T2": t2, "AP": dynamic, "PVP": dynamic, "DP": dynamic}


def _timeline(p: PatientLatents, rng: np.random.Generator) -> dict[str, dt.datetime]:
    """Exam start, T2, injection and the phase acquisition times (to the millisecond).

    The MR exam is 1-7 days before ``p.study_datetime`` at the same time of day.
    """
    start = p.study_datetime - dt.timedelta(days=int(rng.integers(1, 8)))
    out = {"start": start, "T2": start + dt.timedelta(seconds=float(rng.uniform(180, 420)))}
    out["injection"] = start + dt.timedelta(seconds=float(rng.uniform(600, 900)))
    for phase, (lo, hi) in _DELAYS_S.items():
        out[phase] = out["injection"] + dt.timedelta(seconds=float(rng.uniform(lo, hi)))
    return {k: t.replace(microsecond=(t.microsecond // 1000) * 1000) for k, t in out.items()}


def _to_stored(signal: np.ndarray, v: Vendor, rng: np.random.Generator) -> tuple[np.ndarray, float | None]:
    """Scanner scaling (vendor gain x per-series auto-scaling) to stored integers; with Rescale,
    the stored values are real values / slope (slope returned, else None)."""
    scale = v.gain * float(rng.uniform(0.8, 1.25))
    slope = round(float(rng.uniform(0.6, 2.8)), 5) if v.rescale else None
    values = signal * (scale / slope if slope else scale)
    top = 2 ** v.bits_stored - 1 if not v.signed else 2 ** (v.bits_stored - 1) - 1
    stored = np.clip(np.rint(values), 0, top)
    return stored.astype(np.int16 if v.signed else np.uint16), slope


def _study_dataset(p: PatientLatents, v: Vendor, uid: _Uids, times: dict[str, dt.datetime]) -> Dataset:
    ds = Dataset()
    ds.Modality = "MR"
    patient_study_modules(ds, p, uid("study"), f"MR{p.index + 1:06d}{p.cohort_seed % 1000:03d}",
                          "MRI LIVER WITH CONTRAST", modality="MR", study_datetime=times["start"])
    ds.FrameOfReferenceUID = uid("frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.BodyPartExamined = "LIVER"
    ds.PatientPosition = "HFS"
    ds.PatientWeight = round(55.0 + 25.0 * ((p.seed % 1000) / 1000.0), 1)
    ds.MagneticFieldStrength = v.field_t
    ds.ImagingFrequency = round(42.577478 * v.field_t, 6)
    ds.ImagedNucleus = "1H"
    ds.ReceiveCoilName = v.coil
    ds.TransmitCoilName = "Body"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = v.bits_stored
    ds.HighBit = v.bits_stored - 1
    ds.PixelRepresentation = 1 if v.signed else 0
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    return ds


def _ds(value: float) -> str:
    """A DS value: the shortest text that round-trips, else as many decimals as 16 characters hold."""
    value = float(value) + 0.0  # no "-0"
    for precision in range(17, -1, -1):
        text = np.format_float_positional(value, precision=precision, unique=precision == 17, trim="-")
        if len(text) <= 16:
            return text
    raise ValueError(f"{value} does not fit a DICOM DS")


def _write_series(study: Dataset, p: PatientLatents, v: Vendor, phase: str, description: str,
                  number: int, grid: SeriesGrid, stored: np.ndarray, slope: float | None,
                  times: dict[str, dt.datetime], uid: _Uids, dicom_dir: Path, layout: str) -> dict:
    """Write one series (one file per slice); returns what was written."""
    ds = copy.deepcopy(study)  # the series' own elements: the study template is never touched
    seq = v.t2 if phase == "T2" else v.dynamic
    when = times[phase]
    series_uid = uid(phase, "series")
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.ProtocolName = description.replace(" ", "_")
    ds.SeriesDate, ds.SeriesTime = da(when), tm(when)
    ds.AcquisitionDate, ds.AcquisitionTime = da(when), tm(when)
    ds.ContentDate, ds.ContentTime = da(when), tm(when)
    ds.AcquisitionNumber = 1
    ds.ImageType = list(v.image_type)
    ds.ScanningSequence = seq.scanning_sequence.split("\\")
    ds.SequenceVariant = seq.sequence_variant.split("\\")
    ds.ScanOptions = seq.scan_options.split("\\")
    ds.MRAcquisitionType = seq.acquisition_type
    ds.SequenceName = seq.sequence_name
    ds.AngioFlag = "N"
    ds.RepetitionTime = _ds(seq.repetition_ms)
    ds.EchoTime = _ds(seq.echo_ms)
    ds.EchoTrainLength = seq.echo_train
    ds.EchoNumbers = [1]
    ds.NumberOfAverages = "1"
    ds.FlipAngle = _ds(seq.flip_deg)
    ds.PixelBandwidth = _ds(seq.bandwidth_hz)
    rows, cols = grid.shape[1], grid.shape[2]
    ds.InPlanePhaseEncodingDirection = "COL"
    ds.AcquisitionMatrix = [0, cols, int(rows * 0.75), 0]
    ds.NumberOfPhaseEncodingSteps = int(rows * 0.75)
    ds.PercentSampling = "75"
    ds.PercentPhaseFieldOfView = "100"
    ds.SliceThickness = _ds(grid.slice_thickness)
    ds.SpacingBetweenSlices = _ds(grid.spacing[2])
    ds.PixelSpacing = [_ds(grid.spacing[1]), _ds(grid.spacing[0])]  # row spacing, column spacing
    ds.ImageOrientationPatient = [_ds(c) for c in grid.image_orientation]
    ds.Rows, ds.Columns = rows, cols
    ds.ImagesInAcquisition = grid.shape[0]
    if phase != "T2":
        _contrast_bolus(ds, v, study, times["injection"])
    real = stored.astype(np.float32) * (slope or 1.0)
    lo, hi = np.percentile(real.ravel()[::7], [1.0, 99.5])  # a subsample is plenty for a window
    ds.WindowCenter, ds.WindowWidth = _ds(round((lo + hi) / 2.0, 1)), _ds(round(max(hi - lo, 1.0), 1))
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), "0"
    created = when + dt.timedelta(seconds=20)
    sop_common(ds, MRImageStorage, uid(phase, 0), created)
    n = grid.shape[0]
    files = []
    for k in range(n):
        instance = n - k if v.head_first_numbering else k + 1
        ds.SOPInstanceUID = uid(phase, instance)
        ds.InstanceNumber = instance
        ds.ImagePositionPatient = [_ds(c) for c in grid.slice_position(k)]
        ds.SliceLocation = _ds(grid.slice_location(k))
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.LargestImagePixelValue = int(stored[k].max())
        ds.SmallestImagePixelValue = int(stored[k].min())
        path = _file_path(dicom_dir, layout, ds, number, instance)
        save(ds, path)
        files.append(str(path))
    return {
        "series_uid": series_uid, "description": description, "number": number, "files": files,
        "acquisition_time": when.isoformat(), "delay_s": round((when - times["injection"]).total_seconds(), 3),
        "shape": list(grid.shape), "spacing": list(grid.spacing), "origin": list(grid.origin),
        "direction": list(grid.direction), "slice_thickness": grid.slice_thickness,
        "rescale_slope": slope,
    }


def _contrast_bolus(ds: Dataset, v: Vendor, study: Dataset, injection: dt.datetime) -> None:
    """Contrast/Bolus module: 0.1 mmol/kg at 2.5 mL/s (0.5 M agents 0.2 mL/kg, 1 M 0.1 mL/kg)."""
    ml_per_kg = 0.1 if "butrol" in v.contrast_agent else 0.2
    volume = round(ml_per_kg * float(study.PatientWeight), 1)
    ds.ContrastBolusAgent = v.contrast_agent
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = _ds(volume)
    ds.ContrastBolusTotalDose = _ds(volume)
    ds.ContrastBolusStartTime = tm(injection)
    ds.ContrastFlowRate = ["2.5"]
    ds.ContrastFlowDuration = [_ds(round(volume / 2.5, 1))]
    ds.ContrastBolusIngredient = "GADOLINIUM"
    ds.ContrastBolusIngredientConcentration = _ds(v.agent_concentration_mg_ml)


def _short_hash(text: str, n: int) -> str:
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:n].upper()


def _file_path(root: Path, layout: str, ds: Dataset, series_number: int, instance: int) -> Path:
    """Opaque, vendor-export-like file names; every layout keeps patients apart."""
    study = _short_hash(str(ds.StudyInstanceUID), 8)
    if layout == "flat":
        return root / f"{_short_hash(str(ds.SOPInstanceUID), 20)}.dcm"
    if layout == "numbered":
        return root / f"ST{study[:6]}" / f"SE{series_number:04d}" / f"{instance:08d}.dcm"
    return root / study / f"S{series_number}" / f"IM{instance:04d}"


def _write_mask(grid: SeriesGrid, mask: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(grid.image(mask.astype(np.uint8)), str(path), True)


_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)


def observer2_mask(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A second reader's tumour labels: per nodule one of in-plane dilation or erosion by a voxel or a
    jittered boundary, and sometimes one slice more or less at the cranial/caudal end."""
    out = np.zeros_like(labels)
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        box = tuple(slice(max(s.start - 2, 0), s.stop + 2) for s in box)
        m = labels[box] == label
        op = rng.choice(["dilate", "erode", "jitter"])
        if op == "dilate":
            drawn = ndimage.binary_dilation(m, _IN_PLANE)
        elif op == "erode":
            drawn = ndimage.binary_erosion(m, _IN_PLANE)
        else:
            edge = m & ~ndimage.binary_erosion(m, _IN_PLANE)
            ring = ndimage.binary_dilation(m, _IN_PLANE) & ~m
            drawn = (m & ~(edge & (rng.random(m.shape) < 0.35))) | (ring & (rng.random(m.shape) < 0.35))
            drawn = ndimage.uniform_filter(drawn.astype(np.float32), size=(1, 3, 3)) > 0.5
        zs = np.flatnonzero(drawn.any(axis=(1, 2)))
        if zs.size >= 3 and rng.random() < 0.3:  # one end slice left out
            drawn[zs[0] if rng.random() < 0.5 else zs[-1]] = False
        if drawn.sum() < max(4, m.sum() // 3):  # a reader would not lose a nodule: keep the truth
            drawn = m
        region = out[box]
        region[drawn & (region == 0)] = label
    return out


def _truth_row(result: dict) -> dict[str, object]:
    """Flat scalars for truth.csv: scanner, phase delays, breath-hold motion relative to AP, nodules."""
    row: dict[str, object] = {"mri_vendor": result["vendor"], "mri_field_t": result["field_strength_t"]}
    for phase, s in result["series"].items():
        if phase != "T2":
            row[f"mri_{phase}_delay_s"] = s["delay_s"]
    for phase, m in result["motion"].items():
        if phase == "AP":
            continue
        for axis, value in zip("xyz", m["translation_mm"]):
            row[f"mri_{phase}_shift_{axis}_mm"] = value
        for axis, value in zip("xyz", m["rotation_deg"]):
            row[f"mri_{phase}_rot_{axis}_deg"] = value
    row["mri_n_nodules"] = len(result["nodules"])
    row["mri_largest_diameter_mm"] = result["nodules"][0]["diameter_mm"]
    return row
