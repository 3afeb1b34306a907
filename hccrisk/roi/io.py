"""ROI files: MRI masks as DICOM SEG (highdicom; source images = the MR series) and NIfTI, CEUS boxes
as JSON (one box or a whole track) and CSV (one row per sample)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.sr.codedict import codes

import hccrisk
from hccrisk.dicom.mr import read_series
from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox, without_margin
from hccrisk.roi.tracking import BoxTrack

#: segment name -> (property category, property type) for the SEG's segment descriptions
SEGMENT_CODES = {
    "tumour": (codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm),
    "liver": (codes.SCT.Organ, codes.SCT.Liver),
}


#: a saved label's SeriesDescription: "hccrisk <observer>: <what>" (observer1 = the primary reading)
_OBSERVER_SERIES = re.compile(r"^hccrisk (observer\d+): ")
OBSERVER_TAG = re.compile(r"^observer\d+$")  #: observer names (MONAI Label label tags of the readings)


def observer_series_description(observer: str, what: str) -> str:
    """The SeriesDescription that marks a saved ROI object (SEG or box SR) as ``observer``'s reading:
    ``"hccrisk observer2: tumour"``. Observers are ``observer1``, ``observer2``, ..."""
    if not OBSERVER_TAG.match(observer):
        raise InputError("observer", f"observer names are observer1, observer2, ...; got {observer!r}")
    return f"hccrisk {observer}: {what}"[:64]  # LO: at most 64 characters


def observer_of(series_description: str) -> str | None:
    """The observer a saved ROI object's SeriesDescription names, or None (not an hccrisk reading)."""
    m = _OBSERVER_SERIES.match(str(series_description or ""))
    return m.group(1) if m else None


def write_mask_nifti(mask: sitk.Image, path: str | Path) -> Path:
    """Write a label mask as (compressed) NIfTI, UInt8, geometry kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.Cast(mask, sitk.sitkUInt8), str(path), useCompression=True)
    return path


def _source_datasets(source_files: Sequence[str | Path]) -> list[pydicom.Dataset]:
    out = []
    for f in source_files:
        try:
            out.append(pydicom.dcmread(f))
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputError(f, f"cannot read the source MR image: {exc}") from None
    if not out:
        raise InputError("DICOM SEG", "no source images given")
    return out


def _slice_index(reference: sitk.Image, ds: pydicom.Dataset) -> int:
    """Index along z of the reference grid where this source image's position lies (must be exact)."""
    pos = tuple(float(v) for v in ds.ImagePositionPatient)
    idx = reference.TransformPhysicalPointToContinuousIndex(pos)
    k = int(round(idx[2]))
    if abs(idx[0]) > 0.01 or abs(idx[1]) > 0.01 or abs(idx[2] - k) > 0.01 or not 0 <= k < reference.GetSize()[2]:
        raise InputError(ds.filename or ds.SOPInstanceUID, "this image's position is not a slice of the mask's "
                                                           "grid: the mask is not on the series' native geometry")
    return k


def write_seg(mask: sitk.Image, source_files: Sequence[str | Path], path: str | Path,
              segments: Mapping[int, str] | None = None, *, series_description: str = "hccrisk ROI",
              series_number: int = 901) -> Path:
    """Write a label mask on an MR series' native grid as a DICOM Segmentation (binary, one segment per label).

    Args:
        mask: UInt8 labels with the geometry ``read_series(source_files)`` gives (e.g.
            rois/observer1/<id>/mri_AP_tumour.nii.gz).
        source_files: the MR series' DICOM files (any order): the SEG references them and takes patient,
            study and frame of reference from them.
        segments: label value -> "tumour" or "liver" (names in SEGMENT_CODES); default {1: "tumour"}.
            Segment k of the SEG is the k-th smallest label value; repeated names are numbered
            ("tumour 1", "tumour 2").
    Returns:
        the path written. Raises InputError for unreadable sources, a mask not on their grid, or an
        unknown segment name.
    """
    segments = dict(segments or {1: "tumour"})
    unknown = [n for n in segments.values() if n not in SEGMENT_CODES]
    if unknown:
        raise InputError("DICOM SEG", f"unknown segment names {unknown}; known: {sorted(SEGMENT_CODES)}")
    datasets = _source_datasets(source_files)
    labels = sitk.GetArrayViewFromImage(mask)
    cols, rows = mask.GetSize()[0], mask.GetSize()[1]
    frames = np.zeros((len(datasets), rows, cols), dtype=np.uint8)
    for i, ds in enumerate(datasets):
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            raise InputError(ds.filename, f"image is {ds.Rows} x {ds.Columns}, the mask {rows} x {cols}")
        frames[i] = labels[_slice_index(mask, ds)]
    # LABELMAP-style input for BINARY: one channel per segment (label k -> segment number position).
    numbers = sorted(segments)
    stack = np.stack([(frames == v) for v in numbers], axis=-1).astype(np.uint8)
    descriptions = []
    for number, value in enumerate(numbers, start=1):
        category, kind = SEGMENT_CODES[segments[value]]
        name = segments[value]
        label = name if list(segments.values()).count(name) == 1 else f"{name} {value}"
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label, segmented_property_category=category,
            segmented_property_type=kind, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL))
    seg = hd.seg.Segmentation(
        source_images=datasets, pixel_array=stack, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="hccrisk",
        manufacturer_model_name="hccrisk.roi", software_versions=hccrisk.__version__, device_serial_number="0",
        series_description=series_description)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def read_seg(path: str | Path, source_files: Sequence[str | Path], reference: sitk.Image | None = None
             ) -> tuple[sitk.Image, dict[int, str]]:
    """Read a DICOM SEG back onto its MR series' native grid.

    Args:
        path: the SEG file; source_files: the MR series it segments.
        reference: the series' geometry (default: ``read_series(source_files)``).
    Returns:
        (UInt8 label image with the reference geometry, segment number -> segment label).
    """
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # highdicom raises several types for a non-SEG or broken file
        raise InputError(path, f"not a readable DICOM Segmentation: {exc}") from None
    reference = reference if reference is not None else read_series(source_files)
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in source_files]
    out = np.zeros(sitk.GetArrayViewFromImage(reference).shape, dtype=np.uint8)
    numbers = list(seg.segment_numbers)
    uids = [ds.SOPInstanceUID for ds in datasets]
    # SEGs written by other tools (dcmqi, as MONAI Label uses) keep only the slices holding a segment and
    # omit the "spatial locations preserved" flag: absent slices are empty, and the source references
    # (not the flag) place each frame.
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=numbers,
                                               combine_segments=True, relabel=False,
                                               ignore_spatial_locations=True,
                                               assert_missing_frames_are_empty=True)
    for ds, frame in zip(datasets, pixels):
        out[_slice_index(reference, ds)] = frame
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(reference)
    names = {int(n): seg.get_segment_description(n).segment_label for n in numbers}
    return image, names


# --- CEUS boxes --------------------------------------------------------------------------------------

_BOX_COLUMNS = ("sample", "time_s", "valid", "tracked", "x0", "y0", "x1", "y1")


def write_box_json(box: CeusBox, path: str | Path, *, spacing_mm: Sequence[float] | None = None,
                   region_origin: Sequence[int] | None = None, margin_mm: float | None = None) -> Path:
    """One drawn box (contrast-array pixels, its sample) and what is needed to read it elsewhere."""
    data = {"frame": box.frame, "x0": box.x0, "y0": box.y0, "x1": box.x1, "y1": box.y1,
            "pixels": "contrast-array (x = column, y = row; x1/y1 exclusive)",
            "spacing_mm": list(map(float, spacing_mm)) if spacing_mm is not None else None,
            "region_origin": list(map(int, region_origin)) if region_origin is not None else None,
            "margin_mm": margin_mm}
    Path(path).write_text(json.dumps(data, indent=1))
    return Path(path)


def read_box_json(path: str | Path) -> CeusBox:
    """A box written by ``write_box_json``."""
    try:
        data = json.loads(Path(path).read_text())
        return CeusBox(*(int(data[k]) for k in ("x0", "y0", "x1", "y1")), frame=int(data["frame"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a CEUS box JSON (frame, x0, y0, x1, y1): {exc}") from None


def write_track_csv(track: BoxTrack, times: np.ndarray, valid: np.ndarray, path: str | Path,
                    margin_mm: float = 0.0) -> Path:
    """One row per 2 fps sample: sample, time_s, valid, tracked, x0, y0, x1, y1 (with the margin)."""
    boxes = track.expanded(margin_mm) if margin_mm else track.boxes
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(_BOX_COLUMNS)
        for i, b in enumerate(boxes):
            w.writerow([i, f"{float(times[i]):.3f}", int(valid[i]), int(track.tracked[i]), *map(int, b)])
    return Path(path)


def read_track_csv(path: str | Path) -> np.ndarray:
    """(T, 4) int boxes from ``write_track_csv`` (rows in sample order)."""
    try:
        with Path(path).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or any(c not in rows[0] for c in _BOX_COLUMNS):
            raise ValueError(f"expected columns {list(_BOX_COLUMNS)}")
        rows.sort(key=lambda r: int(r["sample"]))
        return np.array([[int(r[k]) for k in ("x0", "y0", "x1", "y1")] for r in rows], dtype=np.int64)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a CEUS box track CSV: {exc}") from None


# --- hccrisk readings stored in the PACS (label server) -> the observer folders ----------------------

def write_observer_rois(series: Sequence, out_dir: str | Path, mri_phases: Mapping[str, object] | None = None
                        ) -> list[Path]:
    """Write the hccrisk readings found among a patient's series (the MONAI Label app's SEGs and CEUS box
    SRs, told apart by ``observer_of(SeriesDescription)``) into ``out_dir/rois/<observer>/`` in the
    synthetic cohort's ROI layout, so ``hccrisk.roi.observers`` / ``hccrisk.roi.mri`` read them as they
    read a cohort's observers:

    - a box SR -> ``ceus_tumour.csv`` (``sop_instance_uid, frame, x0, y0, x1, y1``: the tumour box per
      stored frame, stored-frame pixels) and ``ceus_roi.csv`` (the saved ROI boxes as stored, with their
      ``margin_mm``). The tumour box is the ROI box less the recorded margin (``ceil(margin / pixel
      size)`` pixels a side, as ``hccrisk.roi.box.expand_box`` added it); a side lying on the contrast
      region's edge was clipped there and is kept.
    - a SEG on a selected MR phase -> ``mri_<phase>_<segment label>.nii.gz`` (uint8, 1 inside; the
      series' native geometry, as the cohort's masks).

    Args:
        series: the patient's ``hccrisk.dicom.scan.Series`` (all modalities; images and readings).
        mri_phases: phase -> the selected MR Series (``hccrisk.dicom.select.select_mri``).
    Returns:
        the files written. Raises InputError naming the object when a reading cannot be read or placed;
        SEGs of unselected series and non-hccrisk SRs are skipped.
    """
    from hccrisk.roi.sr import read_box_sr_with_margin

    out_dir = Path(out_dir)
    phase_of = {s.series_uid: p for p, s in (mri_phases or {}).items()}
    instances = {i.sop_uid: i for s in series for i in s.instances}
    written = []
    for s in series:
        observer = observer_of(s.description)
        if observer is None or s.modality not in ("SR", "SEG"):
            continue
        for inst in s.instances:
            folder = out_dir / "rois" / observer
            folder.mkdir(parents=True, exist_ok=True)
            if s.modality == "SR":
                written += _write_ceus_reading(*read_box_sr_with_margin(inst.path), instances, folder, inst.path)
                continue
            ref = pydicom.dcmread(inst.path, stop_before_pixels=True)
            source = str(ref.ReferencedSeriesSequence[0].SeriesInstanceUID) if "ReferencedSeriesSequence" in ref \
                else ""
            if source not in phase_of:
                continue
            files = [i.path for i in mri_phases[phase_of[source]].instances]
            mask, names = read_seg(inst.path, files)
            for number, label in names.items():
                one = sitk.Cast(mask == number, sitk.sitkUInt8)
                written.append(write_mask_nifti(one, folder / f"mri_{phase_of[source]}_{label.replace(' ', '_')}.nii.gz"))
    return written


def _write_ceus_reading(boxes: list, margin_mm: float | None, instances: Mapping[str, object], folder: Path,
                        source: str | Path) -> list[Path]:
    from hccrisk.dicom.us import image_regions, read_clip

    clips = {}
    roi_rows, tumour_rows = [], []
    for box, sop in boxes:
        if sop not in instances:
            raise InputError(source, f"the SR refers to clip {sop}, which is not among the patient's files")
        if sop not in clips:  # once per clip (a label app SR has a box on each of its frames)
            clips[sop] = read_clip(instances[sop].path)
        clip = clips[sop]
        region = next((r for r in image_regions(clip) if r.x0 <= box.x0 and box.x1 <= r.x0 + r.width
                       and r.y0 <= box.y0 and box.y1 <= r.y0 + r.height), None)
        if region is None:
            raise InputError(source, f"box {box} on clip {sop} lies in no ultrasound image region")
        local = box.shifted(-region.x0, -region.y0)  # region pixels, where the margin was added and clipped
        tumour = without_margin(local, margin_mm, region.spacing_mm, (region.height, region.width)).shifted(
            region.x0, region.y0)
        roi_rows.append([sop, box.frame, box.x0, box.y0, box.x1, box.y1, margin_mm if margin_mm is not None else ""])
        tumour_rows.append([sop, box.frame, tumour.x0, tumour.y0, tumour.x1, tumour.y1])
    out = []
    for name, header, rows in (("ceus_roi.csv", ["margin_mm"], roi_rows), ("ceus_tumour.csv", [], tumour_rows)):
        with (folder / name).open("w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["sop_instance_uid", "frame", "x0", "y0", "x1", "y1", *header])
            w.writerows(rows)
        out.append(folder / name)
    return out
