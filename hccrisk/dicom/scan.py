"""Find every DICOM instance under a folder, in any layout, reading headers only.

Each file is read with ``stop_before_pixels``; the pixel data element is then walked by its item
headers (seeks, no reads of pixel values) so that a truncated file is caught here, by name, rather
than half-way through decoding. Files that are not DICOM, are truncated or carry no usable UIDs
become :class:`~hccrisk.errors.InputError` records and the scan goes on.
"""

from __future__ import annotations

import os
import struct
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import DA, DT, TM

from hccrisk.errors import InputError

# Media Storage Directory (DICOMDIR): an index, not an image; the walk finds the files it lists anyway.
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_PIXEL_DATA_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}


@dataclass(frozen=True)
class Instance:
    """One DICOM file's identity and the header fields series selection needs (picklable)."""

    path: Path
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    modality: str
    series_description: str = ""
    series_number: int | None = None
    instance_number: int | None = None
    n_frames: int = 1
    rows: int = 0
    columns: int = 0
    transfer_syntax: str = ""
    image_type: tuple[str, ...] = ()
    contrast_agent: str = ""
    manufacturer: str = ""
    acquired: datetime | None = None  # acquisition (else content, else series) date-time
    series_time: datetime | None = None
    bolus_start: datetime | None = None  # ContrastBolusStartTime on the acquisition date


@dataclass
class Series:
    """The instances of one series (one SeriesInstanceUID) of one patient's study."""

    patient_id: str
    study_uid: str
    series_uid: str
    modality: str
    description: str
    instances: list[Instance] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return sum(i.n_frames for i in self.instances)

    @property
    def first_time(self) -> datetime | None:
        times = [i.acquired for i in self.instances if i.acquired is not None]
        return min(times) if times else None


@dataclass
class ScanResult:
    """All instances found (duplicates removed) and one error per file that could not be used."""

    instances: list[Instance]
    errors: list[InputError]

    def by_patient(self) -> dict[str, list[Series]]:
        """Series grouped per PatientID, in a stable order (study, series number, description)."""
        series: dict[tuple[str, str, str], Series] = {}
        for inst in self.instances:
            key = (inst.patient_id, inst.study_uid, inst.series_uid)
            if key not in series:
                series[key] = Series(inst.patient_id, inst.study_uid, inst.series_uid,
                                     inst.modality, inst.series_description)
            series[key].instances.append(inst)
        grouped: dict[str, list[Series]] = defaultdict(list)
        for s in series.values():
            s.instances.sort(key=lambda i: (i.instance_number or 0, str(i.path)))
            grouped[s.patient_id].append(s)
        for items in grouped.values():
            items.sort(key=lambda s: (s.study_uid, s.instances[0].series_number or 0, s.description))
        return dict(sorted(grouped.items()))


def dicom_datetime(date: object, time: object) -> datetime | None:
    """Combine a DA and a TM value (strings or pydicom values) into a naive datetime, or None."""
    if not date or not time:
        return None
    try:
        d = DA(str(date).strip()) if not isinstance(date, DA) else date
        t = TM(str(time).strip()) if not isinstance(time, TM) else time
    except ValueError:
        return None
    if d is None or t is None:
        return None
    return datetime.combine(d, t)


def _acquired(ds: Dataset) -> datetime | None:
    """When this instance's data were acquired: AcquisitionDateTime, else Acquisition, Content Date/Time."""
    value = ds.get("AcquisitionDateTime")
    if value:
        try:
            dt = DT(str(value).strip())
            return dt.replace(tzinfo=None) if dt is not None else None
        except ValueError:
            pass
    for date_kw, time_kw in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime"),
                             ("SeriesDate", "SeriesTime"), ("StudyDate", "AcquisitionTime")):
        dt = dicom_datetime(ds.get(date_kw), ds.get(time_kw))
        if dt is not None:
            return dt
    return None


def check_pixel_data_extent(fp, path: Path, file_size: int, implicit_vr: bool) -> None:
    """Walk the pixel data element from the current position (after ``stop_before_pixels``).

    Raises InputError when the element runs past the end of the file (a truncated file). Only item
    headers are read; the frame bytes are skipped with seeks.
    """
    head = fp.read(8)
    if len(head) < 8:
        raise InputError(path, "truncated file: the header ends without pixel data")
    group, elem = struct.unpack("<HH", head[:4])
    tag = (group << 16) | elem
    if tag not in _PIXEL_DATA_TAGS:
        return  # little-endian explicit/implicit only; anything else is left to the decoder
    if not implicit_vr:  # explicit VR: OB/OW/OF have 2 reserved bytes and a 4-byte length
        rest = fp.read(4)
        if len(rest) < 4:
            raise InputError(path, "truncated file: pixel data element header cut off")
        (length,) = struct.unpack("<I", rest)
    else:
        (length,) = struct.unpack("<I", head[4:8])
    start = fp.tell()
    if length != 0xFFFFFFFF:
        if start + length > file_size:
            raise InputError(path, f"truncated file: pixel data needs {length} bytes, "
                                   f"{file_size - start} present")
        return
    pos = start  # encapsulated: items (FFFE,E000) until the sequence delimiter (FFFE,E0DD)
    while True:
        fp.seek(pos)
        item = fp.read(8)
        if len(item) < 8:
            raise InputError(path, "truncated file: encapsulated pixel data ends without its "
                                   "sequence delimiter")
        g, e, n = struct.unpack("<HHI", item)
        if (g, e) == (0xFFFE, 0xE0DD):
            return
        if (g, e) != (0xFFFE, 0xE000):
            raise InputError(path, f"corrupt encapsulated pixel data: unexpected tag "
                                   f"({g:04X},{e:04X}) at byte {pos}")
        pos += 8 + n
        if pos > file_size:
            raise InputError(path, "truncated file: a pixel data fragment runs past the end of file")


def read_instance(path: Path) -> Instance | None:
    """Read one file's header. None for a DICOMDIR; InputError for anything unusable."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fp:
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
            if ds.get("SOPClassUID", "") == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
                return None
            has_image = "Rows" in ds
            implicit_vr, little_endian = ds.original_encoding
            if has_image and little_endian:
                check_pixel_data_extent(fp, path, size, bool(implicit_vr))
    except InvalidDicomError:
        raise InputError(path, "not a DICOM file (no DICM preamble)") from None
    except InputError:
        raise
    except (EOFError, OSError, ValueError, KeyError, struct.error) as exc:
        raise InputError(path, f"unreadable or truncated DICOM header ({type(exc).__name__}: {exc})") \
            from None
    missing = [kw for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
               if not str(ds.get(kw, "")).strip()]
    if missing:
        raise InputError(path, f"DICOM file without {', '.join(missing)}")
    meta = getattr(ds, "file_meta", None)
    try:
        n_frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        raise InputError(path, f"invalid NumberOfFrames {ds.get('NumberOfFrames')!r}") from None
    acquired = _acquired(ds)
    bolus = ds.get("ContrastBolusStartTime")
    bolus_dt = None
    if bolus and acquired is not None:
        bolus_dt = dicom_datetime(acquired.date().strftime("%Y%m%d"), bolus)
    return Instance(
        path=path,
        patient_id=str(ds.get("PatientID", "")).strip() or "UNKNOWN",
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        sop_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.get("SOPClassUID", "")),
        modality=str(ds.get("Modality", "")).upper(),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        series_number=_int_or_none(ds.get("SeriesNumber")),
        instance_number=_int_or_none(ds.get("InstanceNumber")),
        n_frames=n_frames,
        rows=int(ds.get("Rows") or 0),
        columns=int(ds.get("Columns") or 0),
        transfer_syntax=str(meta.get("TransferSyntaxUID", "")) if meta is not None else "",
        image_type=tuple(str(v).upper() for v in (ds.get("ImageType") or ())),
        contrast_agent=str(ds.get("ContrastBolusAgent", "") or ""),
        manufacturer=str(ds.get("Manufacturer", "") or ""),
        acquired=acquired,
        series_time=dicom_datetime(ds.get("SeriesDate"), ds.get("SeriesTime")),
        bolus_start=bolus_dt,
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def iter_files(root: Path, skip: Path | None = None) -> Iterable[Path]:
    """Every regular file under ``root`` (or ``root`` itself), sorted for a reproducible scan.

    ``skip``: a folder left out of the walk (the ingest's own output, when placed inside ``root``).
    """
    if root.is_file():
        yield root
        return
    skip_resolved = skip.resolve() if skip is not None else None
    for dirpath, dirnames, filenames in os.walk(root):
        if skip_resolved is not None:
            dirnames[:] = [d for d in dirnames if (Path(dirpath) / d).resolve() != skip_resolved]
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def scan(root: Path | str, skip: Path | str | None = None) -> ScanResult:
    """Read the headers of every file under ``root``; see :class:`ScanResult`.

    Raises InputError when ``root`` does not exist. A file whose SOPInstanceUID was already seen
    (the same image copied twice) is reported and skipped. ``skip``: a folder not to walk.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(root, "no such file or folder")
    instances: list[Instance] = []
    errors: list[InputError] = []
    seen: dict[str, Path] = {}
    for path in iter_files(root, Path(skip) if skip is not None else None):
        try:
            inst = read_instance(path)
        except InputError as exc:
            errors.append(exc)
            continue
        if inst is None:
            continue
        if inst.sop_uid in seen:
            errors.append(InputError(path, f"duplicate SOPInstanceUID of {seen[inst.sop_uid]}; skipped"))
            continue
        seen[inst.sop_uid] = path
        instances.append(inst)
    return ScanResult(instances, errors)
