"""A CEUS cine as a pseudo-volume, so that volume viewers (OHIF's MPR, its MONAI Label panel) can show it
and label it: the cine's stored frames at 2 fps, stacked along a third axis, as one derived DICOM series.

The series holds one Secondary Capture image (PS3.3 A.8.1) per stacked frame, Modality US (ultrasound pixels,
re-arranged), ImageType DERIVED\\SECONDARY, with the Image Plane attributes a viewer reconstructs a volume
from (Image Position/Orientation (Patient), Pixel Spacing, a Frame of Reference UID): a Standard Extended
SOP Class (dciodvfy: warnings for those attributes, no error). Each image's Source Image Sequence references
the stored frame of the original US multi-frame it copies (with its frame number). Its third axis is time,
not space: frame k lies at z = k x the in-plane pixel size, in a Frame of Reference of its own (shared with
nothing, so nothing registers it to a patient space); the derivation description says so.

Why not one multi-frame object: the Multi-frame Grayscale Byte SC IOD allows plane positions per frame,
but OHIF 3.10's image loader (cornerstone's WADO-RS metadata manager) overwrites the first frame's
position with another frame's when it combines the per-frame groups, so the volume has no valid geometry
and does not render (seen in headless Chromium).

Pixels: each image is the whole stored frame in gray (RGB averaged, as the label server's ``ceus_box``
task reads it), so pixel (x, y) of frame k is pixel (x, y) of the referenced stored frame; labels drawn on
the volume map back to the original cine frame by frame (``read_cine_volume``).
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

SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"  #: Secondary Capture Image Storage
#: DerivationDescription of every pseudo-volume image (how ``is_cine_volume`` recognises one)
DERIVATION = "hccrisk CEUS cine as a volume: stored frames at 2 fps stacked, z = frame order (time), not space"
SERIES_DESCRIPTION = "hccrisk CEUS cine volume (z = time)"
FPS = 2.0  #: the frame rate of the stacked frames (the ingested timeline's)
_SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")


@dataclass(frozen=True)
class CineVolumeSources:
    """Where each frame of a pseudo-volume came from: (K,) SOP Instance UIDs of the US clips and 0-based
    frame numbers in them, in the volume's order, and the source series."""

    source_series_uid: str
    sop_uids: tuple[str, ...]
    frames: tuple[int, ...]


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


def write_cine_volume(frames: np.ndarray, sources: Sequence[tuple[Dataset, int]], spacing_mm: Sequence[float],
                      out_dir: str | Path, *, series_instance_uid: str | None = None, series_number: int = 950
                      ) -> list[Path]:
    """Write a pseudo-volume (module docstring) of a CEUS cine: one file per frame, ``out_dir/<k>.dcm``.

    Args:
        frames: (K, rows, columns) uint8, the stored frames in gray, in time order.
        sources: per frame, (header of its US multi-frame clip, 0-based frame number in it); every clip of
            one series.
        spacing_mm: (row, column) pixel size in mm (the US image regions').
        series_instance_uid: the derived series (new when None).
    Returns the paths written, frame order. Raises InputError naming the problem when the inputs disagree.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8 or len(frames) < 2:
        raise InputError(out_dir, f"frames must be (K >= 2, rows, columns) uint8; got {frames.shape} {frames.dtype}")
    if len(sources) != len(frames):
        raise InputError(out_dir, f"{len(frames)} frames but {len(sources)} sources")
    first = sources[0][0]
    for ds, frame in sources:
        if ds.SeriesInstanceUID != first.SeriesInstanceUID or not 0 <= frame < int(ds.get("NumberOfFrames") or 1):
            raise InputError(out_dir, f"frame {frame} of {ds.SOPInstanceUID} is not a frame of series "
                                      f"{first.SeriesInstanceUID}")
    now = _dt.datetime.now()
    series_uid = series_instance_uid or generate_uid()
    frame_of_reference = generate_uid()  # its own: z is time, so it shares no patient space
    sy, sx = (float(_ds(v)) for v in spacing_mm)
    dz = float(_ds((sx + sy) / 2))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (src, frame) in enumerate(sources):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = SC_IMAGE
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
        ds = FileDataset(str(out_dir / f"{k:05d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID, ds.SOPInstanceUID = SC_IMAGE, meta.MediaStorageSOPInstanceUID
        _copy(first, ds, ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                          "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber"])
        ds.Modality = "US"  # ultrasound pixels, re-arranged: the modality of the original
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, series_number, k + 1
        ds.SeriesDescription = SERIES_DESCRIPTION
        ds.Laterality = first.get("Laterality", "")
        ds.Manufacturer, ds.SoftwareVersions = "hccrisk", hccrisk.__version__
        ds.ConversionType = "WSD"  # made on a workstation from existing images
        ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.DerivationDescription = DERIVATION
        ds.DerivationCodeSequence = DicomSequence([_code("113083", "DCM", "Image Processing")])
        ds.BurnedInAnnotation = first.get("BurnedInAnnotation", "YES") or "YES"
        ds.PatientOrientation = ""
        source = Dataset()
        source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = src.SOPClassUID, src.SOPInstanceUID
        source.ReferencedFrameNumber = frame + 1
        source.PurposeOfReferenceCodeSequence = DicomSequence([_code(*_SOURCE_PURPOSE)])
        ds.SourceImageSequence = DicomSequence([source])
        clip = Dataset()  # Common Instance Reference: the clip's series (how read_cine_volume finds the cine)
        clip.ReferencedSOPClassUID, clip.ReferencedSOPInstanceUID = src.SOPClassUID, src.SOPInstanceUID
        referenced = Dataset()
        referenced.SeriesInstanceUID = first.SeriesInstanceUID
        referenced.ReferencedInstanceSequence = DicomSequence([clip])
        ds.ReferencedSeriesSequence = DicomSequence([referenced])
        # geometry (Image Plane attributes): rows/columns along x/y, frame k at z = k x dz
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_of_reference, ""
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0, 0, _ds(k * dz)]
        ds.PixelSpacing = [_ds(sy), _ds(sx)]
        ds.SliceThickness = _ds(dz)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = frames.shape[1:]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = np.ascontiguousarray(frames[k]).tobytes()
        if hasattr(pydicom, "pixels"):  # pydicom 3
            ds.save_as(ds.filename, enforce_file_format=True)
        else:  # pydicom 2 (the label server's venv)
            ds.is_little_endian, ds.is_implicit_VR = True, False
            ds.save_as(ds.filename, write_like_original=False)
        paths.append(Path(ds.filename))
    return paths


def is_cine_volume(ds: Dataset) -> bool:
    """Whether a header is an image of a pseudo-volume written by ``write_cine_volume``."""
    return ds.get("SOPClassUID") == SC_IMAGE and ds.get("DerivationDescription") == DERIVATION


def read_cine_volume(images: Sequence[Dataset | str | Path]) -> CineVolumeSources:
    """The source frames of a pseudo-volume, from its images (headers or files, any order; sorted by
    Instance Number); InputError naming the file when one is not a pseudo-volume image."""
    headers = []
    for item in images:
        ds = item
        if isinstance(item, (str, Path)):
            try:
                ds = pydicom.dcmread(item, stop_before_pixels=True)
            except (OSError, pydicom.errors.InvalidDicomError) as exc:
                raise InputError(item, f"cannot read the CEUS cine volume image: {exc}") from None
        if not is_cine_volume(ds):
            raise InputError(str(item), "not an hccrisk CEUS cine volume image (write_cine_volume)")
        headers.append(ds)
    if not headers:
        raise InputError("CEUS cine volume", "no image")
    headers.sort(key=lambda d: int(d.InstanceNumber))
    refs = [d.SourceImageSequence[0] for d in headers]
    series = {str(d.SeriesInstanceUID) for d in headers}
    if len(series) != 1:
        raise InputError("CEUS cine volume", f"images of {len(series)} series given")
    return CineVolumeSources(str(headers[0].ReferencedSeriesSequence[0].SeriesInstanceUID), tuple(str(r.ReferencedSOPInstanceUID) for r in refs),
                             tuple(int(r.ReferencedFrameNumber) - 1 for r in refs))


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
