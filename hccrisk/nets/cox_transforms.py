"""MONAI transforms, inferer and handler of the Cox-CNN bundles (``bundles/coxcnn_*``; liu2020). The
preprocessing chain is the CEUS one (``hccrisk.nets.transforms``) with the cine cut to its first 3 minutes:

    LoadIngestedCeusTimesd (cine + phase + sample times + observer boxes with a 1 cm margin)
      -> KeepFirstSecondsd (samples after 180 s marked invalid: AP 0-30 s, PP 30-120 s, VP 120-180 s)
      -> CropCeusRoid -> CeusPhaseSamplesd -> network through LogHazardInferer -> LogHazardWriter (CSV)

Training (``hccrisk.nets.cox_cohort``) runs the same chain, so a bundle reproduces training's outputs.
"""

from __future__ import annotations

import numpy as np
import torch

from hccrisk.nets.transforms import LoadIngestedCeusd, PatientPredictionWriter

#: liu2020: "We adopted 3-min CEUS for analysis."
FIRST_SECONDS = 180.0
#: liu2020: "the ROI was defined by expanding the bounding box 1 cm outward".
MARGIN_MM = 10.0


class LoadIngestedCeusTimesd(LoadIngestedCeusd):
    """``LoadIngestedCeusd`` (default margin 1 cm) that also returns ``times`` (T,) s from injection."""

    def __init__(self, keys: str = "image", roi_key: str = "roi", margin_mm: float = MARGIN_MM):
        super().__init__(keys, roi_key, margin_mm)

    def __call__(self, data: dict) -> dict:
        from hccrisk.roi.cine import load_cine

        path = data[self.key]
        d = super().__call__(data)
        d["times"] = np.asarray(load_cine(path).times, float)
        return d


class KeepFirstSecondsd:
    """Marks every sample later than ``seconds`` after injection invalid (``valid`` &= times <= seconds),
    so the phase sampling only draws from the first ``seconds``; drops ``times``."""

    def __init__(self, seconds: float = FIRST_SECONDS):
        self.seconds = float(seconds)

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        times = np.asarray(d.pop("times"), float)
        d["valid"] = np.asarray(d["valid"], bool) & (times <= self.seconds)
        return d


class LogHazardInferer:
    """MONAI-style inferer: inputs (B, K, P, T, H, W), K sub-cines per patient -> (B, 1) mean log hazard."""

    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module, *args, **kwargs) -> torch.Tensor:
        b, k = inputs.shape[:2]
        out = network(inputs.reshape((b * k,) + tuple(inputs.shape[2:])))
        return out.reshape(b, k, -1).mean(1)


class LogHazardWriter(PatientPredictionWriter):
    """``patient,log_hazard``, one row per patient."""

    column = "log_hazard"

    def value(self, pred: torch.Tensor) -> float:
        return float(pred.reshape(-1)[0])
