"""MONAI transforms, inferer and handler of the Cox-CNN bundles (``bundles/coxcnn_*``; liu2020). The
preprocessing chain is the CEUS one (``hccrisk.nets.transforms``) with the cine cut to its first 3 minutes:

    LoadIngestedCeusTimesd (cine + phase + sample times + observer boxes with a 1 cm margin)
      -> KeepFirstSecondsd (samples after 180 s marked invalid: AP 0-30 s, PP 30-120 s, VP 120-180 s)
      -> CropCeusRoid -> CeusPhaseSamplesd -> network through LogHazardInferer -> LogHazardWriter (CSV)

Training (``hccrisk.nets.cox_cohort``) runs the same chain, so a bundle reproduces training's outputs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from hccrisk.nets.transforms import LoadIngestedCeusd

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


class LogHazardWriter:
    """Ignite handler: writes ``patient,log_hazard`` to a CSV, one row per patient."""

    def __init__(self, output_file: str):
        self.path = Path(output_file)

    def attach(self, engine) -> None:
        from monai.utils import optional_import

        events, _ = optional_import("ignite.engine", name="Events")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerow(["patient", "log_hazard"])
        engine.add_event_handler(events.ITERATION_COMPLETED, self)

    def __call__(self, engine) -> None:
        batch, preds = engine.state.batch, engine.state.output
        patients = [b["patient"] for b in batch] if isinstance(batch, list) else list(batch["patient"])
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            for p, out in zip(patients, preds):
                pred = out["pred"] if isinstance(out, dict) else out
                w.writerow([p, f"{float(pred.reshape(-1)[0]):.6f}"])
