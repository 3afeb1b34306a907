"""MRI operators: series selection (phases + the tumour SEG), volumes and VOI, the multi-phase ResNet with
Grad-CAM, and the key-slice heatmap SCs; thin over ``operators.mri_core`` (the library's MRI code).

The clinical values, nomogram and SR steps are the CEUS path's operators: the case carries ``sources``
(the MR slices the SR references) and ``roi_file`` (the SEG).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
from monai.deploy.core import Fragment, Operator, OperatorSpec

from operators._case import CaseStepOperator
from operators.mri_core import (display, heatmap_source, imaging_signature, ingest_study, key_slice_heatmaps,
                                load_mri_network, network_input, read_mri_bundle, select_mri_study)
from operators.results import HeatmapWriterOperator

from hccrisk.dicom.scan import Series
from hccrisk.log import pseudonym

log = logging.getLogger(__name__)


class MriSeriesSelectorOperator(Operator):
    """Select the bundle's contrast phases (``select_mri``) and observer1's tumour SEG of the study.

    Emits ``selection``: {"patient_id", "accession", "mri": MriSelection, "sources": [Path], "roi_file": Path}.
    """

    def __init__(self, fragment: Fragment, *args, bundle_folder: Path, **kwargs):
        self.bundle = Path(bundle_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("study")
        spec.output("selection")

    def compute(self, op_input, op_output, context) -> None:
        series: list[Series] = op_input.receive("study")
        selection = select_mri_study(series, read_mri_bundle(self.bundle).phases)
        for phase, s in selection.phase_series.items():
            log.info("MRI %s: series '%s' (%d slices)", phase, s.description, len(s.instances))
        log.info("tumour VOI: %s's SEG on %s", selection.seg_series.description.split(":")[0], selection.seg_phase)
        op_output.emit({"patient_id": selection.patient_id, "accession": selection.accession, "mri": selection,
                        "sources": selection.sources, "roi_file": selection.seg_file}, "selection")


class MriVolumesOperator(Operator):
    """Ingest the phases into ``work_folder`` and map the SEG's tumour VOI onto the ingested grid; adds
    ``patient_dir`` and ``tumour`` (UInt8 SimpleITK image, largest nodule) to the selection."""

    def __init__(self, fragment: Fragment, *args, work_folder: Path, **kwargs):
        self.work_folder = Path(work_folder)
        super().__init__(fragment, *args, **kwargs)

    def setup(self, spec: OperatorSpec) -> None:
        spec.input("selection")
        spec.output("case")

    def compute(self, op_input, op_output, context) -> None:
        selection = op_input.receive("selection")
        patient_dir = self.work_folder / "mri-case"
        tumour = ingest_study(selection["mri"], patient_dir)
        log.info("MRI of %s ingested; tumour VOI (largest nodule) %d mm3", pseudonym(selection["patient_id"]),
                 int(sitk.GetArrayViewFromImage(tumour).sum()))
        op_output.emit({**selection, "patient_dir": patient_dir, "tumour": tumour}, "case")


class MriInferenceOperator(CaseStepOperator):
    """Adds ``model_name``, ``model_version``, ``imaging_signature`` (probability of early recurrence) and
    ``heatmaps`` (Grad-CAM per phase on the key slice) to the case."""

    def __init__(self, fragment: Fragment, *args, bundle_folder: Path, **kwargs):
        self.bundle = Path(bundle_folder)
        self.device = os.environ.get("HCCRISK_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        bundle = read_mri_bundle(self.bundle)
        weights = self.bundle / "models" / "model.pt"
        net = load_mri_network(str(self.bundle), weights.stat().st_mtime_ns, self.device)
        x, info = network_input(case["patient_dir"], case["tumour"], bundle)
        signature = imaging_signature(net, x, self.device)
        log.info("imaging signature %.4f (%s %s, %s; slices %s)", signature, self.bundle.name, bundle.version,
                 self.device, info["slices"])
        heatmaps = key_slice_heatmaps(net, x, case["patient_dir"], case["tumour"], info, bundle, self.device)
        return {"model_name": self.bundle.name, "model_version": bundle.version, "imaging_signature": signature,
                "heatmaps": heatmaps}


class MriHeatmapWriterOperator(HeatmapWriterOperator):
    """Write one secondary capture per phase: the key slice's Grad-CAM over the ingested crop, referencing
    the native slice of that phase under the crop centre."""

    def sc_inputs(self, case: dict) -> Iterator[tuple[dict, np.ndarray, np.ndarray, Path, dict]]:
        for item in case["heatmaps"]:
            image, heat, spacing = display(item)
            yield (item, image, heat, heatmap_source(case["patient_dir"], case["mri"], item),
                   {"pixel_spacing_mm": spacing})
