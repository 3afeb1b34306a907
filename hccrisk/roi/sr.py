"""CEUS boxes as DICOM Structured Reports: a TID 1500 measurement report (highdicom
``Comprehensive3DSR``) whose planar ROI is the box as a closed POLYLINE SCOORD on the source
ultrasound multi-frame, frame by frame, so that MONAI Label / Deploy and viewers can show it.

Coordinates: SCOORD image coordinates in the stored frame, where (0, 0) is the top-left corner of the
top-left pixel (DICOM PS3.3 C.18.6.1.2), so a box's inclusive-exclusive pixel edges x0, x1 / y0, y1 are the
corner coordinates directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

import hccrisk
from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox, array_to_stored
from hccrisk.roi.cine import CeusCine

ABDOMINAL_US = hd.sr.CodedConcept("45036003", "SCT", "Ultrasonography of abdomen")  #: procedure reported


def clip_path(patient_dir: str | Path, sop_instance_uid: str) -> Path:
    """The DICOM file of a CEUS clip, from the patient's ``ceus.json`` (written by the ingest)."""
    meta = Path(patient_dir) / "ceus.json"
    try:
        clips = json.loads(meta.read_text())["clips"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(meta, f"cannot read the clips of the ingested CEUS: {exc}") from None
    for clip in clips:
        if clip["sop_instance_uid"] == sop_instance_uid:
            return Path(clip["path"])
    raise InputError(meta, f"no clip with SOP Instance UID {sop_instance_uid}")


def write_box_sr(boxes: Sequence[tuple[CeusBox, str | Path]], path: str | Path, *,
                 margin_mm: float | None = None, observer: str = "hccrisk.roi",
                 series_number: int = 902, series_description: str = "hccrisk CEUS ROI",
                 person: str | None = None) -> Path:
    """Write CEUS boxes as one SR; each box is a planar ROI on one frame of its source clip.

    Args:
        boxes: (box in STORED-frame pixels with ``frame`` = 0-based frame of that clip, clip file).
            From the ingested cine: ``cine_boxes_for_sr``.
        margin_mm: recorded in the tracking identifier's text when given ("..., margin 5 mm"; the
            boxes then already include it, see ``read_box_sr_margin``).
        observer: the device observer name written in the observation context.
        series_description: the SR series' description (the label server writes
            ``hccrisk.roi.io.observer_series_description``, which tells observers apart).
        person: a person observer (the reader) added to the observation context when given.
    Returns: the path written.
    """
    if not boxes:
        raise InputError("CEUS SR", "no box to write")
    evidence: dict[str, pydicom.Dataset] = {}
    groups = []
    for n, (box, source) in enumerate(boxes, start=1):
        try:
            ds = evidence.get(str(source)) or pydicom.dcmread(source, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputError(source, f"cannot read the CEUS clip: {exc}") from None
        evidence[str(source)] = ds
        n_frames = int(getattr(ds, "NumberOfFrames", 1))
        if not 0 <= box.frame < n_frames:
            raise InputError(source, f"frame {box.frame} is outside the clip's {n_frames} frames")
        if box.x0 < 0 or box.y0 < 0 or box.x1 > int(ds.Columns) or box.y1 > int(ds.Rows):
            raise InputError(source, f"box {box} is outside the {ds.Rows} x {ds.Columns} stored frame")
        polyline = np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1],
                             [box.x0, box.y0]], dtype=np.float32)
        region = hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=polyline,
            source_image=hd.sr.SourceImageForRegion(ds.SOPClassUID, ds.SOPInstanceUID,
                                                    referenced_frame_numbers=[box.frame + 1]))
        label = f"CEUS tumour box {n}" + (f", margin {margin_mm:g} mm" if margin_mm is not None else "")
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label),
            referenced_region=region, finding_type=codes.SCT.Neoplasm))
    person_context = None if person is None else hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=person))
    context = hd.sr.ObservationContext(observer_person_context=person_context,
                                       observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(uid=hd.UID(), name=observer)))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=ABDOMINAL_US,
                                     imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence.values()), content=report, series_instance_uid=hd.UID(),
        series_number=series_number, sop_instance_uid=hd.UID(), instance_number=1, manufacturer="hccrisk",
        series_description=series_description)
    sr.SoftwareVersions = hccrisk.__version__
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(path)
    return path


def read_box_sr(path: str | Path) -> list[tuple[CeusBox, str]]:
    """The boxes of an SR written by ``write_box_sr``: (box in stored-frame pixels, clip SOP Instance UID).

    Returns [] for a TID 1500 report without planar image regions (e.g. hccrisk's risk report).
    """
    return [(box, uid) for box, uid, _ in _planar_regions(path)]


def read_box_sr_margin(path: str | Path) -> float | None:
    """The margin (mm) the boxes of a ``write_box_sr`` SR include, from its tracking identifiers'
    text ("..., margin 5 mm"); None when none was recorded."""
    return read_box_sr_with_margin(path)[1]


def read_box_sr_with_margin(path: str | Path) -> tuple[list[tuple[CeusBox, str]], float | None]:
    """``read_box_sr`` and ``read_box_sr_margin`` in one reading of the file."""
    regions = _planar_regions(path)
    found = {m.group(1) for _, _, text in regions if (m := _MARGIN.search(text))}
    if len(found) > 1:
        raise InputError(path, f"the boxes record different margins {sorted(found)} mm")
    return [(box, uid) for box, uid, _ in regions], (float(found.pop()) if found else None)


_MARGIN = re.compile(r"margin ([0-9.]+) mm")
_SR_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.22"}


def _concept(item: pydicom.Dataset) -> tuple[str, str]:
    seq = item.get("ConceptNameCodeSequence")
    return (str(seq[0].CodeValue), str(seq[0].CodingSchemeDesignator)) if seq else ("", "")


def _planar_regions(path: str | Path) -> list[tuple[CeusBox, str, str]]:
    """(box, referenced SOP Instance UID, tracking identifier text) of every 2D image region of a TID 1500
    report's measurement groups, walked with pydicom.

    Not highdicom's ``srread`` + ``get_planar_roi_measurement_groups``: they build and validate an object
    per content item, ~20 ms per box: 44 s for the MONAI Label app's SR of a realistic cine (a box on each
    of 2350 frames), read twice (boxes, margin). This walk touches only the items it needs: 1.2 s CPU for
    those 2350 boxes (tests/roi/test_sr.py checks that both give the same boxes)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(path, f"not a TID 1500 measurement report: {exc}") from None
    templates = [str(t.get("TemplateIdentifier", "")) for t in ds.get("ContentTemplateSequence", [])]
    if str(ds.get("SOPClassUID", "")) not in _SR_SOP_CLASSES or "ContentSequence" not in ds \
            or (templates and "1500" not in templates):
        raise InputError(path, "not a TID 1500 measurement report (Enhanced / Comprehensive / Comprehensive 3D SR)")
    out = []
    for container in ds.ContentSequence:
        if container.get("ValueType") != "CONTAINER" or _concept(container) != ("126010", "DCM"):
            continue  # not Imaging Measurements
        # Every child of Imaging Measurements is a measurement group (TID 1501 / 1410 / 1411); only the
        # items needed are converted (pydicom parses a nested sequence when it is first touched).
        for group in container.get("ContentSequence", []):
            text, regions = "", []
            for item in group.get("ContentSequence", []):
                kind = item.get("ValueType")
                if kind == "TEXT":  # the Tracking Identifier (its concept is not checked: one nested parse less)
                    text = str(item.get("TextValue", ""))
                elif kind == "SCOORD":  # TID 1410's Image Region (2D)
                    regions.append(item)
            for region in regions:
                refs = [r for c in region.get("ContentSequence", []) if c.get("ValueType") == "IMAGE"
                        for r in c.get("ReferencedSOPSequence", [])]
                if not refs:
                    raise InputError(path, "an image region of the report references no image")
                ref = refs[0]
                xy = np.asarray(region.GraphicData, dtype=float).reshape(-1, 2)
                frame = int(ref.ReferencedFrameNumber) - 1 if "ReferencedFrameNumber" in ref else 0
                x0, y0 = np.floor(xy.min(axis=0)).astype(int)
                x1, y1 = np.ceil(xy.max(axis=0)).astype(int)
                out.append((CeusBox(int(x0), int(y0), int(x1), int(y1), frame), str(ref.ReferencedSOPInstanceUID),
                            text))
    return out


def cine_boxes_for_sr(cine: CeusCine, boxes: np.ndarray, samples: Sequence[int], patient_dir: str | Path
                      ) -> list[tuple[CeusBox, Path]]:
    """Boxes of chosen 2 fps samples (contrast-array pixels) -> (stored-frame box on its source frame, clip)."""
    out = []
    for i in samples:
        if not cine.valid[i]:
            raise InputError(cine.path, f"sample {i} lies in a gap: no stored frame to reference")
        x0, y0, x1, y1 = (int(v) for v in boxes[i])
        stored = array_to_stored(CeusBox(x0, y0, x1, y1, int(cine.source_frame[i])), cine.region_origin)
        out.append((stored, clip_path(patient_dir, str(cine.source_sop[i]))))
    return out
