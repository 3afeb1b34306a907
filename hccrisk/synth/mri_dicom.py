"""DICOM side of the synthetic MR writer: the study template, one series of classic single-frame MR
Image Storage objects per phase, opaque file names, and a fast slice encoder.

The encoder writes the first slice of a series with ``hccrisk.synth.common.save`` and keeps its bytes:
the elements shared by every slice are copied from them, only the per-slice elements (UID, number,
position, pixel data, ...) are encoded again, so a slice costs a fraction of a full ``dcmwrite`` and
the files are byte-identical to what ``save`` writes (tested).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.tag import Tag
from pydicom.uid import MRImageStorage

from hccrisk.synth.common import da, patient_study_modules, save, sop_common, tm, uid_for
from hccrisk.synth.latent import PatientLatents
from hccrisk.synth.mri_geometry import SeriesGrid
from hccrisk.synth.mri_vendor import Vendor

#: File layouts inside the patient's MR folder (drawn per study).
FILE_LAYOUTS = ("series_folders", "flat", "numbered")

#: Share of the rows acquired along the phase-encoding direction (the rest zero-filled).
PHASE_FRACTION = 0.75

#: Elements that differ between the slices of a series (everything else is shared).
SLICE_TAGS = tuple(Tag(k) for k in ("SOPInstanceUID", "InstanceNumber", "ImagePositionPatient",
                                    "SliceLocation", "SmallestImagePixelValue", "LargestImagePixelValue",
                                    "PixelData"))


class SliceEncoder:
    """Encodes further slices of a series from the bytes of its first file (written by ``save``).

    ``first``: the dataset as written, ``first_bytes``: its file. The file meta is re-encoded per slice
    (it names the SOP instance); between the per-slice elements, the first file's bytes are reused.
    """

    def __init__(self, first: Dataset, first_bytes: bytes):
        self._meta = copy.deepcopy(first.file_meta)
        body = first_bytes[132 + len(_encode_meta(self._meta)):]  # after preamble, "DICM" and meta
        # Offsets of the per-slice elements in the body: re-encode each element in tag order.
        self._chunks: list[bytes | object] = []
        pos = 0
        for elem in first:
            size = len(_encode_element(elem))
            if elem.tag in SLICE_TAGS:
                self._chunks.append(elem.tag)
            elif self._chunks and isinstance(self._chunks[-1], bytes):
                self._chunks[-1] += body[pos:pos + size]
            else:
                self._chunks.append(body[pos:pos + size])
            pos += size
        if pos != len(body):
            raise RuntimeError("slice encoder: the first file is not the dataset's plain encoding")

    def encode(self, ds: Dataset) -> bytes:
        """The Part 10 file of ``ds`` (same elements as the first slice, other per-slice values)."""
        self._meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        out = [b"\0" * 128, b"DICM", _encode_meta(self._meta)]
        out += [c if isinstance(c, bytes) else _encode_element(ds[c]) for c in self._chunks]
        return b"".join(out)


def _encode_meta(meta) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_file_meta_info(fp, meta, enforce_standard=True)
    return fp.getvalue()


def _encode_element(elem) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_data_element(fp, elem)
    return fp.getvalue()


class MrUids:
    """Stable UIDs of this patient's MR objects (cohort seed + patient id + object name)."""

    def __init__(self, p: PatientLatents):
        self._parts = (p.cohort_seed, p.patient_id, "mri")

    def __call__(self, *name: object) -> str:
        return str(uid_for(*self._parts, *name))



def study_dataset(p: PatientLatents, v: Vendor, uid: MrUids, times: dict[str, dt.datetime]) -> Dataset:
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


def ds_text(value: float) -> str:
    """A DS value: the shortest text that round-trips, else as many decimals as 16 characters hold."""
    value = float(value) + 0.0  # no "-0"
    for precision in range(17, -1, -1):
        text = np.format_float_positional(value, precision=precision, unique=precision == 17, trim="-")
        if len(text) <= 16:
            return text
    raise ValueError(f"{value} does not fit a DICOM DS")


def write_series(study: Dataset, p: PatientLatents, v: Vendor, phase: str, description: str,
                  number: int, grid: SeriesGrid, stored: np.ndarray, slope: float | None,
                  times: dict[str, dt.datetime], uid: MrUids, dicom_dir: Path, layout: str) -> dict:
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
    ds.RepetitionTime = ds_text(seq.repetition_ms)
    ds.EchoTime = ds_text(seq.echo_ms)
    ds.EchoTrainLength = seq.echo_train
    ds.EchoNumbers = [1]
    ds.NumberOfAverages = "1"
    ds.FlipAngle = ds_text(seq.flip_deg)
    ds.PixelBandwidth = ds_text(seq.bandwidth_hz)
    rows, cols = grid.shape[1], grid.shape[2]
    ds.InPlanePhaseEncodingDirection = "COL"
    ds.AcquisitionMatrix = [0, cols, int(rows * PHASE_FRACTION), 0]
    ds.NumberOfPhaseEncodingSteps = int(rows * PHASE_FRACTION)
    ds.PercentSampling = ds_text(100 * PHASE_FRACTION)
    ds.PercentPhaseFieldOfView = "100"
    ds.SliceThickness = ds_text(grid.slice_thickness)
    ds.SpacingBetweenSlices = ds_text(grid.spacing[2])
    ds.PixelSpacing = [ds_text(grid.spacing[1]), ds_text(grid.spacing[0])]  # row spacing, column spacing
    ds.ImageOrientationPatient = [ds_text(c) for c in grid.image_orientation]
    ds.Rows, ds.Columns = rows, cols
    ds.ImagesInAcquisition = grid.shape[0]
    if phase != "T2":
        _contrast_bolus(ds, v, study, times["injection"])
    real = stored.astype(np.float32) * (slope or 1.0)
    lo, hi = np.percentile(real.ravel()[::7], [1.0, 99.5])  # a subsample is plenty for a window
    ds.WindowCenter, ds.WindowWidth = ds_text(round((lo + hi) / 2.0, 1)), ds_text(round(max(hi - lo, 1.0), 1))
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = ds_text(slope), "0"
    created = when + dt.timedelta(seconds=20)
    sop_common(ds, MRImageStorage, uid(phase, 0), created)
    n = grid.shape[0]
    files = []
    encoder = None
    for k in range(n):
        instance = n - k if v.head_first_numbering else k + 1
        ds.SOPInstanceUID = uid(phase, instance)
        ds.InstanceNumber = instance
        ds.ImagePositionPatient = [ds_text(c) for c in grid.slice_position(k)]
        ds.SliceLocation = ds_text(grid.slice_location(k))
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.LargestImagePixelValue = int(stored[k].max())
        ds.SmallestImagePixelValue = int(stored[k].min())
        path = _file_path(dicom_dir, layout, ds, number, instance)
        if encoder is None:  # the first slice through the shared writer, the others re-use its bytes
            save(ds, path)
            encoder = SliceEncoder(ds, path.read_bytes())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encoder.encode(ds))
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
    ds.ContrastBolusVolume = ds_text(volume)
    ds.ContrastBolusTotalDose = ds_text(volume)
    ds.ContrastBolusStartTime = tm(injection)
    ds.ContrastFlowRate = ["2.5"]
    ds.ContrastFlowDuration = [ds_text(round(volume / 2.5, 1))]
    ds.ContrastBolusIngredient = "GADOLINIUM"
    ds.ContrastBolusIngredientConcentration = ds_text(v.agent_concentration_mg_ml)


def _short_hash(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n].upper()


def _file_path(root: Path, layout: str, ds: Dataset, series_number: int, instance: int) -> Path:
    """Opaque, vendor-export-like file names; every layout keeps patients apart."""
    study = _short_hash(str(ds.StudyInstanceUID), 8)
    if layout == "flat":
        return root / f"{_short_hash(str(ds.SOPInstanceUID), 20)}.dcm"
    if layout == "numbered":
        return root / f"ST{study[:6]}" / f"SE{series_number:04d}" / f"{instance:08d}.dcm"
    return root / study / f"S{series_number}" / f"IM{instance:04d}"
