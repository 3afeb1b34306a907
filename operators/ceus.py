"""CEUS timeline (hccrisk.preprocess.ceus) and the tumour boxes from the stored box SR (hccrisk.roi)."""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators._case import CaseStepOperator
from operators.roi_core import reading_order, roi_from_sr

from hccrisk.errors import InputError
from hccrisk.preprocess.ceus import ingest_ceus
from hccrisk.roi.cine import load_cine
from hccrisk.roi.sr import read_box_sr_with_margin

log = logging.getLogger(__name__)
MARGIN_MM = 5.0  # liver margin around the tumour box (bundles/ceus_mp: margin_mm)


class CeusTimelineOperator(Operator):
    """Build the 2 fps CEUS timeline into ``work_folder`` (``ingest_ceus``); adds ``patient_dir`` to the selection."""

    def __init__(self, fragment: Fragment, *args, work_folder: Path, **kwargs):
        self.work_folder = Path(work_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("selection")
        spec.output("case")

    def compute(self, op_input, op_output, context) -> None:
        selection = op_input.receive("selection")
        patient_dir = self.work_folder / "ceus"
        patient_dir.mkdir(parents=True, exist_ok=True)
        summary = ingest_ceus(selection["clips"], patient_dir)
        log.info("CEUS timeline: %d samples, %d valid", summary["n_samples"], summary["n_valid"])
        op_output.emit({**selection, "patient_dir": patient_dir}, "case")


class CeusRoiOperator(CaseStepOperator):
    """Tumour boxes on every 2 fps sample from the stored box SR (``operators.roi_core.roi_from_sr``):
    the SR's own per-frame boxes (as the MONAI Label app stores them), or its one box tracked over the
    cine, margined. Adds ``boxes`` ((T, 4) contrast-array pixels) and ``roi_file`` to the case."""

    def add(self, case: dict) -> dict:
        for roi_file in reading_order(case["roi_files"]):
            try:
                boxes, margin = read_box_sr_with_margin(roi_file)
            except InputError:
                continue  # another SR (or a SEG: MRI path)
            if boxes:
                break
        else:
            raise InputError(case["clips"][0].parent, "no CEUS box SR in the study: the radiologist's ROI "
                                                      "(hccrisk roi track --sr, or MONAI Label) is needed")
        roi = roi_from_sr(load_cine(case["patient_dir"]), boxes, margin, roi_file)
        log.info("ROI from %s: %s", Path(roi_file).name, roi.describe())
        return {"roi_file": Path(roi_file), "boxes": roi.track.expanded(MARGIN_MM).astype(float)}
