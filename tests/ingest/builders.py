"""Small, standard-conformant DICOM files for the ingest tests, built with pydicom.

A CEUS clip here is a dual display: B-mode region on the left (constant texture), contrast region on
the right whose mean grey level follows :func:`contrast_level` of the time after injection, and
burned-in text (255) outside both regions. The top-left 4x4 block of the contrast region holds the
frame index (mod 256) so a test can tell which stored frame a sample came from.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRLittleEndian, JPEGBaseline8Bit, PYDICOM_IMPLEMENTATION_UID,
                         generate_uid)

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ROWS, COLS = 80, 180
BMODE_BOX = (10, 12, 70, 72)  # x0, y0, x1, y1 inclusive (DICOM RegionLocation Min/Max)
CONTRAST_BOX = (100, 12, 160, 72)
SPACING_CM = (0.025, 0.03)  # PhysicalDeltaX, PhysicalDeltaY
INJECTION = datetime(2024, 3, 5, 10, 30, 0)


def contrast_level(t: np.ndarray | float) -> np.ndarray:
    """Mean contrast-region grey level at t s after injection: dark, fills from 10 s, plateaus."""
    t = np.asarray(t, dtype=float)
    return np.clip(20 + 6 * np.maximum(t - 10, 0), 20, 200)


def region_item(box: tuple[int, int, int, int], spacing_cm=SPACING_CM) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat = 1
    item.RegionDataType = 1
    item.RegionFlags = 0
    item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, \
        item.RegionLocationMaxY1 = box
    item.PhysicalUnitsXDirection = 3
    item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX, item.PhysicalDeltaY = spacing_cm
    return item


def _base(patient_id: str, study_uid: str, series_uid: str, sop_class: str, modality: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = sop_class
    ds.PatientID = patient_id
    ds.PatientName = "Test^Patient"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.StudyDate = INJECTION.strftime("%Y%m%d")
    return ds


def clip_frames(times_s: np.ndarray, rgb: bool = False) -> np.ndarray:
    """Stored frames (n, ROWS, COLS[, 3]) uint8 for frames at ``times_s`` after injection."""
    n = len(times_s)
    frames = np.full((n, ROWS, COLS), 255, dtype=np.uint8)  # burned-in "text" everywhere else
    rng = np.random.default_rng(0)
    texture = rng.integers(60, 140, size=(BMODE_BOX[3] - BMODE_BOX[1] + 1,
                                          BMODE_BOX[2] - BMODE_BOX[0] + 1), dtype=np.uint8)
    x0, y0, x1, y1 = BMODE_BOX
    frames[:, y0:y1 + 1, x0:x1 + 1] = texture
    x0, y0, x1, y1 = CONTRAST_BOX
    frames[:, y0:y1 + 1, x0:x1 + 1] = contrast_level(times_s)[:, None, None].astype(np.uint8)
    frames[:, y0:y0 + 4, x0:x0 + 4] = (np.arange(n) % 256)[:, None, None].astype(np.uint8)
    if rgb:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    return frames


def write_us_clip(path: Path, *, patient_id: str = "P001", study_uid: str | None = None,
                  series_uid: str | None = None, start: datetime = INJECTION, n_frames: int = 100,
                  frame_time_ms: float | None = 100.0, frame_time_vector: list[float] | None = None,
                  cine_rate: float | None = None, regions=(BMODE_BOX, CONTRAST_BOX),
                  jpeg: bool = False, bolus_start: datetime | None = None,
                  description: str = "CEUS liver", frames: np.ndarray | None = None) -> Path:
    """Write one US multi-frame clip; frame times follow the timing attribute given."""
    ds = _base(patient_id, study_uid or "1.2.3.4.1", series_uid or "1.2.3.4.1.1", US_MULTIFRAME, "US")
    ds.SeriesDescription = description
    ds.Manufacturer = "TestVendor"
    ds.ContrastBolusAgent = "SonoVue"
    ds.AcquisitionDateTime = start.strftime("%Y%m%d%H%M%S.%f")
    if bolus_start is not None:
        ds.ContrastBolusStartTime = bolus_start.strftime("%H%M%S.%f")
    if frame_time_vector is not None:
        ds.FrameTimeVector = frame_time_vector
        ds.FrameIncrementPointer = 0x00181065
        offsets = np.cumsum(frame_time_vector) / 1000.0
    elif frame_time_ms is not None and cine_rate is None:
        ds.FrameTime = frame_time_ms
        ds.FrameIncrementPointer = 0x00181063
        offsets = np.arange(n_frames) * frame_time_ms / 1000.0
    elif cine_rate is not None:
        ds.CineRate = cine_rate
        offsets = np.arange(n_frames) / cine_rate
    else:
        offsets = np.arange(n_frames) * 0.1  # no timing attribute written at all
    ds.SequenceOfUltrasoundRegions = Sequence([region_item(b) for b in regions])
    t_rel = (start - INJECTION).total_seconds() + offsets
    pixels = clip_frames(t_rel, rgb=jpeg) if frames is None else frames
    ds.NumberOfFrames = n_frames
    ds.Rows, ds.Columns = ROWS, COLS
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if jpeg:
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        encoded = []
        for frame in pixels:
            buf = io.BytesIO()
            Image.fromarray(frame, "RGB").save(buf, format="JPEG", quality=95, subsampling=1)
            encoded.append(buf.getvalue())
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].VR = "OB"
        ds.LossyImageCompression = "01"
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_ceus_study(folder: Path, patient_id: str = "P001", *, clips=((0.0, 10.0, 700),
                     (90.0, 5.0, 1200)), study_uid: str | None = None, **kwargs) -> list[Path]:
    """Clips given as (start s after injection, frames per second, n_frames), one file each."""
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    paths = []
    for k, (t_start, fps, n) in enumerate(clips):
        paths.append(write_us_clip(folder / f"clip{k}.dcm", patient_id=patient_id, study_uid=study_uid,
                                   series_uid=series_uid, start=INJECTION + timedelta(seconds=t_start),
                                   n_frames=n, frame_time_ms=1000.0 / fps, **kwargs))
    return paths


def write_mr_slice(path: Path, *, patient_id: str = "P001", study_uid: str = "1.2.3.9",
                   series_uid: str, description: str, acquired: datetime, z: float = 0.0,
                   bolus_start: datetime | None = None) -> Path:
    """One 8x8 MR slice (enough for selection tests; geometry is the MRI engineer's concern)."""
    ds = _base(patient_id, study_uid, series_uid, MR_IMAGE, "MR")
    ds.SeriesDescription = description
    ds.AcquisitionDate = acquired.strftime("%Y%m%d")
    ds.AcquisitionTime = acquired.strftime("%H%M%S.%f")
    if bolus_start is not None:
        ds.ContrastBolusStartTime = bolus_start.strftime("%H%M%S")
        ds.ContrastBolusAgent = "Gd"
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 1.0
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.zeros((8, 8), np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
