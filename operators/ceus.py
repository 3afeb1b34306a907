"""CEUS timeline (hccrisk.preprocess.ceus) and the tumour boxes from the stored box SR (hccrisk.roi)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators._case import CaseStepOperator
from operators.roi_core import without_margin

from hccrisk.errors import InputError
from hccrisk.preprocess.ceus import ingest_ceus
from hccrisk.roi.box import stored_to_array
from hccrisk.roi.cine import load_cine
from hccrisk.roi.sr import read_box_sr, read_box_sr_margin
from hccrisk.roi.tracking import track_box

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
    """Tumour boxes on every 2 fps sample from the stored box SR: the first box, mapped to its sample,
    tracked over the cine (``track_box``) and margined. Adds ``boxes`` ((T, 4) contrast-array pixels)
    and ``roi_file`` to the case."""

    def add(self, case: dict) -> dict:
        cine = load_cine(case["patient_dir"])
        for roi_file in case["roi_files"]:
            try:
                boxes = read_box_sr(roi_file)
            except InputError:
                continue  # another SR (or a SEG: MRI path, not wired yet)
            if boxes:
                break
        else:
            raise InputError(case["clips"][0].parent, "no CEUS box SR in the study: the radiologist's ROI "
                                                      "(hccrisk roi track --sr, or MONAI Label) is needed")
        stored, sop = boxes[0]
        hits = np.flatnonzero((cine.source_sop == sop) & (cine.source_frame == stored.frame) & cine.valid)
        if hits.size == 0:
            raise InputError(roi_file, f"the box's frame {stored.frame + 1} of {sop} is not on the 2 fps timeline")
        anchor = without_margin(stored_to_array(stored, cine.region_origin), read_box_sr_margin(roi_file),
                                cine.spacing_mm, cine.shape)
        track = track_box(cine, anchor, anchor_index=int(hits[0]))
        log.info("ROI from %s, tracked over %d samples", Path(roi_file).name, len(cine.times))
        return {"roi_file": Path(roi_file),
                        "boxes": track.expanded(MARGIN_MM).astype(float)}
