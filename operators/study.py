"""Study loading from a folder and CEUS series selection (hccrisk.dicom scan / select)."""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
from monai.deploy.core import Fragment, Operator, OperatorSpec

from hccrisk.dicom.scan import Series, scan
from hccrisk.dicom.select import select_ceus
from hccrisk.errors import InputError
from hccrisk.log import pseudonym

log = logging.getLogger(__name__)

SR_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.33",
                  "1.2.840.10008.5.1.4.1.1.88.22"}  # Comprehensive 3D, Comprehensive, Enhanced SR
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


class StudyLoaderOperator(Operator):
    """Scan ``input_folder`` for DICOM; emit ``study``: the series of its one patient's one study (list[Series])."""

    def __init__(self, fragment: Fragment, *args, input_folder: Path, **kwargs):
        self.input_folder = Path(input_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output("study")

    def compute(self, op_input, op_output, context) -> None:
        found = scan(self.input_folder)
        broken = []
        for error in found.errors:
            if "not a DICOM file" in str(error):  # clinical.csv, a README: not part of the study
                log.info("skipped %s", error)
            else:
                broken.append(error)
        if broken:  # a truncated or corrupt image: refuse rather than report on part of the study
            raise InputError(self.input_folder, f"{len(broken)} file(s) of the study cannot be read, so it is "
                                                f"not analysed; first: {broken[0]}")
        by_patient = found.by_patient()
        if len(by_patient) != 1:
            raise InputError(self.input_folder, f"expected one patient's study, found {len(by_patient)} patients")
        (patient, series), = by_patient.items()
        studies = {s.study_uid for s in series}
        if len(studies) != 1:
            raise InputError(self.input_folder, f"expected one study, found {len(studies)} for patient "
                                                f"{pseudonym(patient)}")
        log.info("study of patient %s: %d series", pseudonym(patient), len(series))
        op_output.emit(series, "study")


class CeusSeriesSelectorOperator(Operator):
    """Select the CEUS cines (``select_ceus``) and the stored ROI objects (box SR or SEG) of the study.

    Emits ``selection``: {"patient_id", "accession", "clips": [Path], "roi_files": [Path]}.
    """

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("study")
        spec.output("selection")

    def compute(self, op_input, op_output, context) -> None:
        series: list[Series] = op_input.receive("study")
        chosen, decisions = select_ceus(series)
        for d in decisions:
            log.info("series %s: %s", d.series.description or d.series.series_uid, d.reason)
        if not chosen:
            raise InputError(series[0].instances[0].path.parent, "no CEUS cine in the study")
        roi_files = [i.path for s in series for i in s.instances
                     if i.sop_class_uid in SR_SOP_CLASSES | {SEG_SOP_CLASS}]
        clips = [i.path for s in chosen for i in s.instances]
        accession = str(pydicom.dcmread(clips[0], stop_before_pixels=True, specific_tags=["AccessionNumber"])
                        .get("AccessionNumber", "") or "")  # clinical values may be keyed by it
        op_output.emit({"patient_id": series[0].patient_id, "accession": accession, "clips": clips,
                        "roi_files": roi_files}, "selection")
