"""Deterministic DICOM helpers shared by the CEUS and MRI writers: UIDs, Patient/Study/Equipment
modules, date/time formatting and saving with a valid file meta."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from hccrisk import __version__
from hccrisk.synth.latent import PatientLatents

#: Root under which every synthetic UID lies (pydicom's registered root for generated UIDs).
UID_ROOT = "1.2.826.0.1.3680043.8.498."

#: Equipment per vendor and modality: (Manufacturer, ManufacturerModelName, SoftwareVersions).
EQUIPMENT: dict[str, dict[str, tuple[str, str, str]]] = {
    "A": {"US": ("Synthetica Ultrasound", "SonoSim 700", "4.2.1"),
          "MR": ("Synthetica MR", "MagSim 1.5T", "VE11")},
    "B": {"US": ("Virtua Imaging", "VI-Echo Pro", "B.12"),
          "MR": ("Virtua Imaging", "VI-Mag 3T", "R5.7")},
    "C": {"US": ("Phantomedic", "PM-CEUS 3", "3.0.8"),
          "MR": ("Phantomedic", "PM-Signa 3.0", "DV26")},
}
INSTITUTION = "Synthetic Hepatology Centre"

#: Size presets: "default" (small, a cohort in about a minute), "realistic" (full-resolution frames /
#: slices, for benchmarks) and "small" (MRI of a smaller field of view and fewer, thicker slices, about
#: half the ingest cost: the CI science checks; docs/synthetic.md "Sizes and timing").
SIZES: tuple[str, ...] = ("default", "realistic", "small")


def uid_for(*parts: object) -> UID:
    """A stable DICOM UID from its parts (include the cohort seed, patient id and object names).

    Same parts -> same UID; different parts -> different UIDs (SHA-512 of the parts, as pydicom's
    ``generate_uid(entropy_srcs=...)``).
    """
    if not parts:
        raise ValueError("uid_for needs at least one part")
    return generate_uid(prefix=UID_ROOT, entropy_srcs=["hccrisk-synth", *map(str, parts)])


def opaque_name(*parts: object, suffix: str = "") -> str:
    """An opaque, stable file name (16 upper-case hex characters) from its parts, as PACS exports
    often have; ``suffix`` e.g. ".dcm" or ""."""
    digest = hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:16].upper()
    return digest + suffix


def da(when: dt.datetime | dt.date) -> str:
    """DICOM DA (YYYYMMDD)."""
    return when.strftime("%Y%m%d")


def tm(when: dt.datetime) -> str:
    """DICOM TM with microseconds kept to 1 ms (HHMMSS.ffffff trimmed to HHMMSS.fff)."""
    return when.strftime("%H%M%S.%f")[:10]


def dt_str(when: dt.datetime) -> str:
    """DICOM DT without offset (YYYYMMDDHHMMSS.fff)."""
    return da(when) + tm(when)


def birth_date(p: PatientLatents) -> dt.date:
    """A synthetic birth date consistent with ``p.age`` at ``p.study_datetime``."""
    offset = p.seed % 365  # fixed, deterministic day of year
    d = p.study_datetime.date() - dt.timedelta(days=int(p.age * 365.25) + offset)
    return d


def patient_study_modules(
    ds: Dataset,
    p: PatientLatents,
    study_uid: str,
    accession: str,
    description: str,
    *,
    modality: str | None = None,
    study_datetime: dt.datetime | None = None,
) -> None:
    """Fill the Patient, General Study, Patient Study and General Equipment modules in place.

    ``modality`` ("US" or "MR") picks the vendor's equipment; default: ``ds.Modality``.
    ``study_datetime`` defaults to ``p.study_datetime``.
    """
    when = study_datetime or p.study_datetime
    ds.PatientName = p.patient_name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = "HCCRISK-SYNTH"
    ds.PatientBirthDate = da(birth_date(p))
    ds.PatientSex = p.sex
    ds.PatientAge = f"{p.age:03d}Y"
    ds.PatientIdentityRemoved = "YES"  # synthetic: no real person behind it
    ds.DeidentificationMethod = "Synthetic data (hccrisk synth)"

    ds.StudyInstanceUID = study_uid
    ds.StudyDate = da(when)
    ds.StudyTime = tm(when)
    ds.ReferringPhysicianName = ""
    ds.StudyID = accession[-8:] if len(accession) > 8 else accession  # SH: 16 chars max
    ds.AccessionNumber = accession
    ds.StudyDescription = description

    mod = modality or str(ds.get("Modality", "US"))
    if p.vendor not in EQUIPMENT or mod not in EQUIPMENT[p.vendor]:
        raise ValueError(f"no equipment for vendor {p.vendor!r}, modality {mod!r}")
    manufacturer, model, software = EQUIPMENT[p.vendor][mod]
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = model
    ds.SoftwareVersions = software
    ds.DeviceSerialNumber = f"{p.vendor}{mod}{(p.cohort_seed % 9000) + 1000}"
    ds.InstitutionName = INSTITUTION
    ds.StationName = f"{mod}{p.vendor}01"


def sop_common(ds: Dataset, sop_class_uid: str, sop_instance_uid: str, created: dt.datetime) -> None:
    """SOP Common module: class/instance UIDs, character set, creation date/time (fixed, no clock)."""
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = da(created)
    ds.InstanceCreationTime = tm(created)


def save(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM Part 10 file; parent folders are created.

    The transfer syntax is ``ds.file_meta.TransferSyntaxUID`` when set (e.g. by the writer after
    compressing) else explicit VR little endian. The file meta carries a fixed implementation UID so
    the bytes do not depend on the pydicom version beyond its encoder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(UID_ROOT + "1.999." + __version__.replace(".", "").lstrip("0"))
    meta.ImplementationVersionName = f"HCCRISK_{__version__}"[:16]
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path
