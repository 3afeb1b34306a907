"""A CEUS cine as a pseudo-volume, so that volume viewers (OHIF's MPR, its MONAI Label panel) can show it
and label it: the cine's stored frames at 2 fps, stacked along a third axis, as one derived DICOM object.

The object is a Multi-frame Grayscale Byte Secondary Capture (PS3.3 A.8.3) with the Multi-frame Functional
Groups that make it reconstructable: Pixel Measures and Plane Orientation (shared), Plane Position (per
frame). The IOD allows no per-frame Derivation Image group, so item k of the Source Image Sequence is
frame k + 1's source: the stored frame of the original US multi-frame it copies (with its frame number). Modality stays US; ImageType DERIVED\\SECONDARY; the series and the derivation
description say what it is. Its third axis is time, not space: frame k lies at z = k x the in-plane pixel
size in a Frame of Reference of its own (shared with nothing, so nothing registers it to a patient
space); the Frame Time Vector holds the true time between frames.

Pixels: each frame is the whole stored frame in gray (RGB averaged, as the label server's ``ceus_box``
task reads it), so a pixel (x, y) of frame k is pixel (x, y) of the referenced stored frame; labels drawn
on the volume map back to the original cine frame by frame (``read_cine_volume``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import hccrisk
from hccrisk.errors import InputError

SC_MULTIFRAME_GRAY_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"  #: Multi-frame Grayscale Byte SC Image Storage
#: DerivationDescription of every pseudo-volume (how ``is_cine_volume`` recognises one)
DERIVATION = "hccrisk CEUS cine as a volume: stored frames at 2 fps stacked, z = frame order (time), not space"
SERIES_DESCRIPTION = "hccrisk CEUS cine volume (z = time)"
FPS = 2.0  #: the frame rate of the stacked frames (the ingested timeline's)
_SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")


@dataclass(frozen=True)
class CineVolumeSources:
    """Where each frame of a pseudo-volume came from: (K,) SOP Instance UIDs of the US clips and 0-based
    frame numbers in them, the source series, and (K,) times in s from the first frame."""

    source_series_uid: str
    sop_uids: tuple[str, ...]
    frames: tuple[int, ...]
    times_s: tuple[float, ...]


def sample_frames(clip_times_s: Sequence[np.ndarray], fps: float = FPS) -> np.ndarray:
    """The frames a pseudo-volume stacks: for each time 0, 1/fps, ... the nearest stored frame of the clip
    covering it (``hccrisk.preprocess.ceus.build_timeline``, the ingest's rule; no frame in gaps), each
    frame once.

    clip_times_s: per clip, (n_c,) frame times in s on one clock (from the first clip's first frame).
    Returns (K,) indices into the clips' frames concatenated in the given order.
    """
    from hccrisk.preprocess.ceus import build_timeline

    timeline = build_timeline([np.asarray(t, float) for t in clip_times_s], fps=fps)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in clip_times_s])[:-1]]).astype(np.int64)
    valid = timeline.valid
    index = starts[timeline.clip[valid]] + timeline.frame[valid]
    _, first = np.unique(index, return_index=True)
    return index[np.sort(first)]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters (DS)."""
    return pydicom.valuerep.format_number_as_ds(float(value))


def _copy(src: Dataset, dst: Dataset, keywords: Sequence[str]) -> None:
    for kw in keywords:
        dst.__setattr__(kw, src.get(kw, ""))


def write_cine_volume(frames: np.ndarray, sources: Sequence[tuple[Dataset, int]], times_s: Sequence[float],
                      spacing_mm: Sequence[float], path: str | Path, *, series_instance_uid: str | None = None,
                      series_number: int = 950) -> Path:
    """Write a pseudo-volume (module docstring) of a CEUS cine.

    Args:
        frames: (K, rows, columns) uint8, the stored frames in gray, in time order.
        sources: per frame, (header of its US multi-frame clip, 0-based frame number in it); every clip of
            one series and study.
        times_s: (K,) s of each frame from the first (increasing).
        spacing_mm: (row, column) pixel size in mm (the US image regions').
        series_instance_uid: the derived series (new when None).
    Returns the path written. Raises InputError naming the problem when the inputs disagree.
    """
    frames = np.asarray(frames)
    times = np.asarray(times_s, float)
    if frames.ndim != 3 or frames.dtype != np.uint8 or len(frames) < 2:
        raise InputError(path, f"frames must be (K >= 2, rows, columns) uint8; got {frames.shape} {frames.dtype}")
    if not (len(sources) == len(frames) == len(times)) or np.any(np.diff(times) <= 0):
        raise InputError(path, f"{len(frames)} frames, {len(sources)} sources and {len(times)} increasing times needed")
    first = sources[0][0]
    for ds, frame in sources:
        if ds.SeriesInstanceUID != first.SeriesInstanceUID or not 0 <= frame < int(ds.get("NumberOfFrames") or 1):
            raise InputError(path, f"frame {frame} of {ds.SOPInstanceUID} is not a frame of series "
                                   f"{first.SeriesInstanceUID}")
    now = _dt.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SC_MULTIFRAME_GRAY_BYTE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = SC_MULTIFRAME_GRAY_BYTE, meta.MediaStorageSOPInstanceUID
    _copy(first, ds, ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                      "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"])
    ds.Modality = "US"  # ultrasound pixels, re-arranged: the modality of the original
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    ds.SeriesNumber, ds.InstanceNumber = series_number, 1
    ds.SeriesDescription = SERIES_DESCRIPTION
    ds.Manufacturer, ds.SoftwareVersions = "hccrisk", hccrisk.__version__
    ds.ConversionType = "WSD"  # made on a workstation from existing images
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.DerivationDescription = DERIVATION
    ds.BurnedInAnnotation = first.get("BurnedInAnnotation", "YES") or "YES"
    ds.PatientOrientation = ""
    ds.Laterality = first.get("Laterality", "")
    ds.FrameOfReferenceUID = generate_uid()  # its own: z is time, so it shares no patient space
    ds.PositionReferenceIndicator = ""
    # pixels
    k, rows, cols = frames.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, k
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PresentationLUTShape = "IDENTITY"
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"  # US = unspecified units
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTimeVector")
    ds.FrameTimeVector = [0.0] + [round(float(v), 3) for v in np.diff(times) * 1000.0]  # ms between frames
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    # geometry: the frame's rows/columns along x/y, frame k at z = k x slice spacing
    sy, sx = (float(_ds(v)) for v in spacing_mm)
    dz = float(_ds((sx + sy) / 2))
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [_ds(sy), _ds(sx)]
    measures.SliceThickness = measures.SpacingBetweenSlices = _ds(dz)
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PixelMeasuresSequence = DicomSequence([measures])
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame, source_items = [], []
    for i, (src, frame) in enumerate(sources):
        position = Dataset()
        position.ImagePositionPatient = [0.0, 0.0, _ds(i * dz)]
        item = Dataset()
        item.PlanePositionSequence = DicomSequence([position])
        per_frame.append(item)
        # the IOD's per-frame groups have no Derivation Image: item i of the Source Image Sequence is frame i
        source = Dataset()
        source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = src.SOPClassUID, src.SOPInstanceUID
        source.ReferencedFrameNumber = frame + 1
        source.PurposeOfReferenceCodeSequence = DicomSequence([_code(*_SOURCE_PURPOSE)])
        source_items.append(source)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.SourceImageSequence = DicomSequence(source_items)
    ds.DerivationCodeSequence = DicomSequence([_code("113083", "DCM", "Image Processing")])
    referenced = Dataset()  # Common Instance Reference: the clips
    referenced.SeriesInstanceUID = first.SeriesInstanceUID
    clips = {src.SOPInstanceUID: src.SOPClassUID for src, _ in sources}
    instances = []
    for uid, sop_class in clips.items():
        inst = Dataset()
        inst.ReferencedSOPClassUID, inst.ReferencedSOPInstanceUID = sop_class, uid
        instances.append(inst)
    referenced.ReferencedInstanceSequence = DicomSequence(instances)
    ds.ReferencedSeriesSequence = DicomSequence([referenced])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(pydicom, "pixels"):  # pydicom 3
        ds.save_as(path, enforce_file_format=True)
    else:  # pydicom 2 (the label server's venv)
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)
    return path


def is_cine_volume(ds: Dataset) -> bool:
    """Whether a header is a pseudo-volume written by ``write_cine_volume``."""
    return ds.get("SOPClassUID") == SC_MULTIFRAME_GRAY_BYTE and ds.get("DerivationDescription") == DERIVATION


def read_cine_volume(ds: Dataset | str | Path) -> CineVolumeSources:
    """The source frames of a pseudo-volume (a header or a file); InputError when it is not one."""
    name = str(ds) if isinstance(ds, (str, Path)) else str(ds.get("SOPInstanceUID", "<dataset>"))
    if isinstance(ds, (str, Path)):
        try:
            ds = pydicom.dcmread(ds, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputError(name, f"cannot read the CEUS cine volume: {exc}") from None
    if not is_cine_volume(ds):
        raise InputError(name, "not an hccrisk CEUS cine volume (write_cine_volume)")
    sops, frames = [], []
    refs = list(ds.get("SourceImageSequence") or [])
    if len(refs) != int(ds.NumberOfFrames):
        raise InputError(name, f"{len(refs)} source images for {ds.NumberOfFrames} frames")
    for ref in refs:
        sops.append(str(ref.ReferencedSOPInstanceUID))
        frames.append(int(ref.ReferencedFrameNumber) - 1)
    times = np.cumsum([float(v) for v in ds.FrameTimeVector]) / 1000.0
    return CineVolumeSources(str(ds.ReferencedSeriesSequence[0].SeriesInstanceUID), tuple(sops), tuple(frames),
                             tuple(float(t) for t in times))


def volume_series_uid(source_series_uid: str) -> str:
    """The pseudo-volume's SeriesInstanceUID, derived from its cine's (the same cine always gets the same
    one, so a volume is written once per cine)."""
    return str(generate_uid(entropy_srcs=["hccrisk cine volume", str(source_series_uid)]))


def cine_frame_index(sources: CineVolumeSources, clip_sop_uids: Sequence[str], clip_starts: Sequence[int]
                     ) -> np.ndarray:
    """(K,) index of each volume frame in the cine whose clips (SOP Instance UIDs, in order) start at
    ``clip_starts`` (index of each clip's first frame in the clips' frames concatenated)."""
    start = {uid: int(s) for uid, s in zip(clip_sop_uids, clip_starts)}
    missing = sorted(set(sources.sop_uids) - set(start))
    if missing:
        raise InputError(sources.source_series_uid, f"the volume refers to clips not in the cine: {missing}")
    return np.array([start[uid] + f for uid, f in zip(sources.sop_uids, sources.frames)], dtype=np.int64)
