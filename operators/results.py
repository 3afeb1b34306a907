"""Result writers: the risk report SR and the heatmap secondary captures (hccrisk.results)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators._case import CaseStepOperator

from hccrisk.results.sc import write_heatmap_sc
from hccrisk.results.sr import RiskResult, write_risk_sr
from hccrisk.roi.cine import load_cine
from hccrisk.roi.sr import clip_path

log = logging.getLogger(__name__)


class RiskReportWriterOperator(CaseStepOperator):
    """Write the risk SR into ``output_folder`` (one file per study; the name is the stable SOP UID)."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, **kwargs):
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        missing = tuple(sorted(set(case["clinical_missing"]) | set(case["nomogram_missing"])))
        result = RiskResult(case["model_name"], case["model_version"], case["imaging_signature"],
                            risk=case["risk"], cutoff=case["cutoff"], clinical=case["clinical"], missing=missing)
        tmp = self.output_folder / "sr.dcm.partial"
        write_risk_sr(result, case.get("sources") or case["clips"], tmp, roi_file=case.get("roi_file"))  # MR: sources
        final = self.output_folder / f"SR_{pydicom.dcmread(tmp, stop_before_pixels=True).SOPInstanceUID}.dcm"
        tmp.replace(final)
        log.info("wrote %s", final.name)
        return {"sr_file": final}


class HeatmapWriterOperator(Operator):
    """Write one secondary capture per heatmap (key frame per phase) into ``output_folder``; a subclass for
    another modality overrides :meth:`sc_inputs` only."""

    def __init__(self, fragment: Fragment, *args, output_folder: Path, **kwargs):
        self.output_folder = Path(output_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("case")

    def compute(self, op_input, op_output, context) -> None:
        case = op_input.receive("case")
        for n, (item, image, heat, source, extra) in enumerate(self.sc_inputs(case), start=1):
            path = self.output_folder / f"SC_{case['model_name']}_{item['phase']}.dcm"
            write_heatmap_sc(image, heat, source, path, model_name=case["model_name"],
                             model_version=case["model_version"], instance_number=n, **extra)
            log.info("wrote %s", path.name)
        if not case["heatmaps"]:
            log.warning("no heatmap: no secondary capture written")

    def sc_inputs(self, case: dict) -> Iterator[tuple[dict, np.ndarray, np.ndarray, Path, dict]]:
        """Per heatmap: (item, image, heat map, source file, further ``write_heatmap_sc`` arguments). CEUS: the
        key frame's ROI crop, enlarged for viewing, referencing its stored frame."""
        cine = load_cine(case["patient_dir"])
        for item in case["heatmaps"]:
            i = item["sample"]
            scale = 4  # 64 x 64 ROI crops are tiny on a viewer: nearest-neighbour x4
            yield (item, np.kron(item["image"], np.ones((scale, scale))),
                   np.kron(item["heatmap"], np.ones((scale, scale))),
                   clip_path(case["patient_dir"], str(cine.source_sop[i])), {"frame": int(cine.source_frame[i])})
