"""The study loader operator (``operators.study_core``: one patient's one study, and whether the CEUS or the
MRI path serves it) and CEUS series selection (hccrisk.dicom.select; the MRI selection is operators.mri)."""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators.study_core import load_study

from hccrisk.dicom.scan import Series
from hccrisk.dicom.select import select_ceus
from hccrisk.errors import InputError

log = logging.getLogger(__name__)

SR_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.33",
                  "1.2.840.10008.5.1.4.1.1.88.22"}  # Comprehensive 3D, Comprehensive, Enhanced SR
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


class StudyLoaderOperator(Operator):
    """Emit ``study``: the series of ``input_folder``'s one patient's one study (list[Series]); ``series``
    when the app has loaded them already (to choose its path)."""

    def __init__(self, fragment: Fragment, *args, input_folder: Path, series: list[Series] | None = None, **kwargs):
        self.input_folder = Path(input_folder)
        self.series = series
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.output("study")

    def compute(self, op_input, op_output, context) -> None:
        op_output.emit(self.series if self.series is not None else load_study(self.input_folder), "study")


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
