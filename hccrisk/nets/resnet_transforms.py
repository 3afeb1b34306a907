"""MONAI dictionary transforms that the zhao2024 bundles' ``inference.json`` names as ``_target_``: the
exact preprocessing of ``hccrisk.nets.resnet_train`` (``LoadIngestedMrid``: observer VOI -> ingested grid
-> 3 max-area slices x AP, PVP, DP, cropped and resized) and DLRCR's tabular predictors
(``LoadTabulard``: one CSV row, median-filled and z-scored with the training statistics).
Probabilities are written by ``hccrisk.nets.transforms.ProbabilityWriter``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hccrisk.nets.resnet_train import CPU_SIZE


class LoadIngestedMrid:
    """{"image": ingested patient folder, "roi": observer ROI folder} -> "image" (9, size, size) float32
    tensor, "patient" (folder name unless given)."""

    def __init__(self, keys: str = "image", roi_key: str = "roi", size: int = CPU_SIZE):
        self.key, self.roi_key, self.size = keys, roi_key, size

    def __call__(self, data: dict) -> dict:
        from hccrisk.errors import InputError
        from hccrisk.nets.resnet_train import case_input, observer_tumour

        d = dict(data)
        patient_dir = Path(d[self.key])
        if not d.get(self.roi_key):
            raise InputError(patient_dir, "no observer ROI folder given (key 'roi')")
        d[self.key] = torch.as_tensor(case_input(patient_dir, observer_tumour(d[self.roi_key], patient_dir), self.size))
        d.setdefault("patient", patient_dir.name)
        return d


class LoadTabulard:
    """{"tabular": CSV path (patient_id + predictors), "patient": id} -> "tabular" (n,) float32 tensor,
    standardised with the ``tabular.json`` that training wrote next to the weights."""

    def __init__(self, keys: str = "tabular", scaler_file: str = "models/tabular.json", patient_key: str = "patient"):
        self.key, self.scaler_file, self.patient_key = keys, scaler_file, patient_key

    def __call__(self, data: dict) -> dict:
        from hccrisk.errors import InputError
        from hccrisk.nets.resnet_train import TabularScaler, read_tabular

        d = dict(data)
        try:
            scaler = TabularScaler.from_json(json.loads(Path(self.scaler_file).read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(self.scaler_file, f"cannot read the training statistics of the predictors: {exc}") from None
        table = read_tabular(d[self.key])
        pid = str(d[self.patient_key])
        if pid not in table.index:
            raise InputError(d[self.key], f"no row for patient {pid!r}")
        d[self.key] = torch.as_tensor(scaler.transform(table.loc[[pid]])[0])
        return d
