"""MONAI dictionary transforms, inferer and handler that the CEUS bundles' ``inference.json`` names as
``_target_``: the exact preprocessing of training (``hccrisk.nets.data``), step by step.

Chain: ``LoadIngestedCeusd`` (the ingested 2 fps cine with its phase labels and the tumour boxes of an
observer ROI folder, margined) -> ``CropCeusRoid`` (ROI crop resized to crop x crop) ->
``CeusPhaseSamplesd`` (phase alignment, interleaved split, grey / 255) -> network through
``SubCineInferer`` (mean softmax over a patient's sub-cines) -> ``ProbabilityWriter`` (CSV).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from hccrisk.nets.ceus import PHASES
from hccrisk.nets.data import CROP, MARGIN_MM, N_FRAMES, N_SPLITS, ceus_phase_samples


class LoadIngestedCeusd:
    """{"image": patient folder (or ceus.npz), "roi": observer ROI folder} -> "image" (T, H, W) uint8
    contrast cine, "boxes" (T, 4), "phase" (T,), "valid" (T,), "patient" (folder name)."""

    def __init__(self, keys: str = "image", roi_key: str = "roi", margin_mm: float = MARGIN_MM):
        self.key, self.roi_key, self.margin_mm = keys, roi_key, margin_mm

    def __call__(self, data: dict) -> dict:
        from hccrisk.errors import InputError
        from hccrisk.nets.data import observer_boxes, fill_gap_boxes
        from hccrisk.roi.cine import load_cine

        d = dict(data)
        cine = load_cine(d[self.key])
        if not d.get(self.roi_key):
            raise InputError(d[self.key], "no observer ROI folder given (key 'roi')")
        boxes = fill_gap_boxes(observer_boxes(cine, Path(d[self.roi_key]), self.margin_mm), cine.path)
        with np.load(cine.path, allow_pickle=False) as z:
            d["phase"] = z["phase"]
        d[self.key], d["boxes"], d["valid"] = cine.contrast, boxes, cine.valid
        d.setdefault("patient", Path(cine.path).parent.name)
        return d


class CropCeusRoid:
    """"image" (T, H, W) + "boxes" (T, 4) -> "image" (T, size, size) float32 ROI crops (bilinear)."""

    def __init__(self, keys: str = "image", size: int = CROP):
        self.key, self.size = keys, size

    def __call__(self, data: dict) -> dict:
        from hccrisk.roi.frames import crop_box_cine

        d = dict(data)
        d[self.key] = crop_box_cine(d[self.key], d.pop("boxes"), (self.size, self.size), d["valid"])
        return d


class CeusPhaseSamplesd:
    """"image" (T, S, S) crops -> (n_splits, P, n_frames, S, S) float32 in [0, 1] (``ceus_phase_samples``)."""

    def __init__(self, keys: str = "image", phases: Sequence[str] = PHASES, n_frames: int = N_FRAMES,
                 n_splits: int = N_SPLITS):
        self.key, self.phases, self.n_frames, self.n_splits = keys, tuple(phases), n_frames, n_splits

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        d[self.key] = torch.as_tensor(ceus_phase_samples(d[self.key], d.pop("phase"), d.pop("valid"), self.phases,
                                                         self.n_frames, self.n_splits, where=str(d.get("patient"))))
        return d


class SubCineInferer:
    """MONAI-style inferer: inputs (B, K, P, T, H, W), K sub-cines per patient -> (B, 2) mean softmax."""

    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module, *args, **kwargs) -> torch.Tensor:
        b, k = inputs.shape[:2]
        prob = torch.softmax(network(inputs.reshape((b * k,) + tuple(inputs.shape[2:]))), 1)
        return prob.reshape(b, k, -1).mean(1)


class PatientPredictionWriter:
    """Ignite handler: appends ``patient,<column>`` to a CSV per iteration, one row per patient; a subclass
    says which number of the network output to write (``value``)."""

    column = "prediction"

    def __init__(self, output_file: str):
        self.path = Path(output_file)

    def value(self, pred: torch.Tensor) -> float:
        raise NotImplementedError

    def attach(self, engine) -> None:
        from monai.utils import optional_import

        events, _ = optional_import("ignite.engine", name="Events")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            csv.writer(f).writerow(["patient", self.column])
        engine.add_event_handler(events.ITERATION_COMPLETED, self)

    def __call__(self, engine) -> None:
        batch, preds = engine.state.batch, engine.state.output
        # MONAI evaluators decollate batch and output into per-item dicts by default
        patients = [b["patient"] for b in batch] if isinstance(batch, list) else list(batch["patient"])
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            for p, out in zip(patients, preds):
                pred = out["pred"] if isinstance(out, dict) else out
                w.writerow([p, f"{self.value(pred):.6f}"])


class ProbabilityWriter(PatientPredictionWriter):
    """``patient,probability`` (class 1 = early recurrence)."""

    column = "probability"

    def value(self, pred: torch.Tensor) -> float:
        return float(pred[1])
