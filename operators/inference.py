"""Bundle inference operator: the CEUS network of ``bundles/<name>`` on the case's ROI crops
(``operators.inference_core`` over hccrisk.nets).

The bundle must hold ``models/model.ts`` (TorchScript, from ``hccrisk train ceus``); without it the app
stops here with an error naming the missing file: no prediction is invented. When the bundle also holds
``models/model.pt`` (the eager weights), Grad-CAM heatmaps of one key frame per phase are computed for
the secondary captures (TorchScript modules take no hooks). The networks run on the GPU when torch sees
one (``HCCRISK_DEVICE`` overrides: cpu, cuda).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from monai.deploy.core import Fragment

from operators._case import CaseStepOperator
from operators.inference_core import (MissingBundleError, bundle_inputs, check_bundle, imaging_signature,  # noqa: F401
                                      key_frame_heatmaps)

log = logging.getLogger(__name__)


class BundleInferenceOperator(CaseStepOperator):
    """Adds ``model_name``, ``model_version``, ``imaging_signature`` (probability of class 1, the mean
    over the patient's sub-cines) and ``heatmaps`` (list of {phase, image, heatmap, sample}) to the case."""

    def __init__(self, fragment: Fragment, *args, bundle_folder: Path, **kwargs):
        self.bundle = Path(bundle_folder)
        self.device = os.environ.get("HCCRISK_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        check_bundle(self.bundle)
        phases, version = bundle_inputs(self.bundle)
        signature, x = imaging_signature(self.bundle, case["patient_dir"], case["boxes"], phases, self.device)
        log.info("imaging signature %.4f (%s %s, %s)", signature, self.bundle.name, version, self.device)
        heatmaps = key_frame_heatmaps(self.bundle, case["patient_dir"], x, phases, self.device)
        if not heatmaps:
            log.warning("%s missing: no Grad-CAM heatmaps (TorchScript takes no hooks)", self.bundle / "models" / "model.pt")
        return {"model_name": self.bundle.name, "model_version": version,
                "imaging_signature": signature, "heatmaps": heatmaps}
