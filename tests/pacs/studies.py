"""Small DICOM studies for the PACS tests: a synthetic CEUS study and a tiny MR study with
compressed series (so retrieval must keep transfer syntaxes)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, MRImageStorage, RLELossless, generate_uid

from hccrisk.pacs.files import dicom_files


def synthetic_ceus_study(out: Path) -> list[Path]:
    from hccrisk.synth.cohort import generate_cohort

    generate_cohort(out / "cohort", 1, 3, modality="ceus", workers=1, progress=False)
    return dicom_files([out / "cohort" / "dicom"])


def mr_study(out: Path, patient_id: str = "PACS001") -> list[Path]:
    """8 MR slices (32x32 uint16) in three series: uncompressed, JPEG-LS lossless, RLE lossless."""
    rng = np.random.default_rng(7)
    study_uid = generate_uid()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (syntax, n) in enumerate(((ExplicitVRLittleEndian, 3), (JPEGLSLossless, 3),
                                          (RLELossless, 2)), start=1):
        series_uid = generate_uid()
        for k in range(n):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
            ds.SOPClassUID = MRImageStorage
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.PatientID, ds.PatientName, ds.Modality = patient_id, "Test^Pacs", "MR"
            ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20240102", "101010", "ACC1", "1"
            ds.SeriesNumber, ds.InstanceNumber = number, k + 1
            ds.Rows = ds.Columns = 32
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
            ds.PixelData = rng.integers(0, 4096, (32, 32), dtype=np.uint16).tobytes()
            if syntax != ExplicitVRLittleEndian:
                ds.compress(syntax)
            path = out / f"{number}_{k}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def dataset_bytes(path: Path) -> bytes:
    """The encoded data set after the file meta group: what a PACS must keep byte for byte
    (the meta group itself names the writing application and may differ)."""
    raw = Path(path).read_bytes()
    assert raw[128:132] == b"DICM", f"{path}: no DICOM preamble"
    meta_length = struct.unpack("<I", raw[140:144])[0]  # (0002,0000) UL, explicit VR LE
    return raw[144 + meta_length:]


def by_sop_uid(paths: list[Path]) -> dict[str, Path]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in paths}


def pixels(path: Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array
