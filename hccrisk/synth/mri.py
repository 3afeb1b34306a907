"""Synthetic contrast MRI study writer: one MR study per patient with a T2WI series and the arterial
(AP), portal venous (PVP) and delayed (DP) phases, as classic single-frame MR Image Storage objects,
plus ground-truth liver and tumour masks (NIfTI) on each series' own grid.

The images come from ``mri_anatomy`` (shapes), ``mri_render`` (signal, noise, bias) and
``mri_vendor`` (scanner conventions), the files from ``mri_dicom``; see docs/synthetic.md, "MRI".
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from hccrisk.synth.latent import PatientLatents
from hccrisk.synth.mri_anatomy import make_anatomy
from hccrisk.synth.mri_dicom import FILE_LAYOUTS, PHASE_FRACTION, MrUids, study_dataset, write_series
from hccrisk.synth.mri_geometry import IDENTITY, SeriesGrid, breath_hold_motion, make_grid
from hccrisk.synth.mri_render import PHASES, acquired_resolution, bias_field, phase_signals, render, rician
from hccrisk.synth.mri_vendor import SERIES_NAMES, SIZES, Vendor, vendor

#: Nominal phase delays after injection (s): AP 20-35, PVP 60-80, DP ~180; T2 precedes the contrast.
_DELAYS_S = {"AP": (20.0, 35.0), "PVP": (60.0, 80.0), "DP": (170.0, 190.0)}


def write_mri_study(
    p: PatientLatents,
    dicom_dir: Path,
    roi_dir: Path,
    size: str,
    rng: np.random.Generator,
    observer2_roi_dir: Path | None = None,
) -> dict:
    """Write one patient's MR study under ``dicom_dir`` and the ground-truth masks under ``roi_dir``.

    ``size`` is "default" (128 x 128 x ~30 voxels of ~1.4 x 1.4 x 4 mm per series), "realistic"
    (256 x 256 x 40-72) or "small" (96 x 96 x 15-20 voxels of ~1.5 x 1.5 x 5-7 mm, a smaller field of
    view: the CI science checks). Masks: ``roi_dir/mri_<phase>_tumour.nii.gz`` (uint8, nodule number, 1 =
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
    layout = FILE_LAYOUTS[int(protocol.integers(len(FILE_LAYOUTS)))]
    motions = {ph: (IDENTITY if ph == "AP" else breath_hold_motion(anat.liver_centre, draw["motion"]))
               for ph in PHASES}
    noise = draw["noise"]
    uid = MrUids(p)
    dynamic_bias = bias_field(grids["AP"].shape, noise)  # one receive coil setup for the dynamic run
    result: dict = {"study_uid": uid("study"), "frame_of_reference_uid": uid("frame-of-reference"),
                    "series_uids": {}, "series": {}, "rois": {}, "observer2_rois": {}, "motion": {},
                    "vendor": p.vendor, "field_strength_t": v.field_t, "file_layout": layout,
                    "injection_time": times["injection"].isoformat()}
    study = study_dataset(p, v, uid, times)
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
        acquired = acquired_resolution(clean.reshape(grid.shape), PHASE_FRACTION)
        noisy = rician(acquired * bias, sigma, noise)
        stored, slope = _to_stored(noisy, v, noise)
        series = write_series(study, p, v, phase, names[phase], v.series_numbers[number], grid, stored,
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


_STREAMS = ("geometry", "anatomy", "protocol", "motion", "noise", "observer2")


def _streams(rng: np.random.Generator) -> dict[str, np.random.Generator]:
    """One child generator per purpose, spawned from ``rng``."""
    return dict(zip(_STREAMS, rng.spawn(len(_STREAMS))))


def _series_grids(v: Vendor, size: str, rng: np.random.Generator) -> dict[str, SeriesGrid]:
    """The dynamic phases share one prescription; T2 has its own slices (and tilt)."""
    matrix, n_dyn, t2_matrix, n_t2 = SIZES[size]
    fovs, (spacing, thick), (t2_spacing, t2_thick) = v.protocol(size)
    fov = int(rng.choice(fovs))
    # Default and small sizes zoom on the liver (right upper quadrant); realistic covers the whole abdomen.
    centre = np.array([-10.0, 0.0, 0.0]) if size == "realistic" else np.array([-42.0, 2.0, 0.0])
    centre = centre + rng.normal(0.0, [4.0, 4.0, 5.0])
    oblique = rng.random() < v.oblique_probability
    tilt = float(rng.uniform(1.0, 4.0) * rng.choice([-1.0, 1.0])) if oblique else 0.0
    dynamic = make_grid(centre, fov, matrix, n_dyn, spacing, thick, tilt)
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
        for axis, value in zip("xyz", m["centre_mm"]):  # rotation centre: the motion is rebuildable
            row[f"mri_{phase}_centre_{axis}_mm"] = value
    row["mri_n_nodules"] = len(result["nodules"])
    row["mri_largest_diameter_mm"] = result["nodules"][0]["diameter_mm"]
    return row
