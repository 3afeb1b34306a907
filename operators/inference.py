"""Bundle inference: the CEUS network of ``bundles/<name>`` on the case's ROI crops (hccrisk.nets).

The bundle must hold ``models/model.ts`` (TorchScript, from ``hccrisk.nets.cohort.export_torchscript``);
without it the app stops here with an error naming the missing file: no prediction is invented. When
the bundle also holds ``models/model.pt`` (the eager weights), Grad-CAM heatmaps of one key frame per
phase are computed for the secondary captures (TorchScript modules take no hooks).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from monai.deploy.core import Fragment

from operators._case import CaseStepOperator

from hccrisk.errors import HccriskError
from hccrisk.nets.data import N_FRAMES, N_SPLITS, ceus_case_samples, phase_indices
from hccrisk.roi.cine import load_cine

log = logging.getLogger(__name__)


class MissingBundleError(HccriskError):
    """The model bundle (or its TorchScript file) the app needs is not there."""


@lru_cache(maxsize=4)
def _load_torchscript(path: str, mtime_ns: int) -> torch.jit.ScriptModule:
    """The TorchScript model, kept loaded across studies (a service runs many); a new file reloads."""
    return torch.jit.load(path, map_location="cpu").eval()


@lru_cache(maxsize=4)
def _load_eager(path: str, mtime_ns: int, n_phases: int) -> torch.nn.Module:
    """The eager CeusNet with the bundle's weights (for Grad-CAM), kept loaded like the TorchScript one."""
    from hccrisk.nets.ceus import CeusNet

    net = CeusNet(phases=n_phases)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    return net.eval()


def bundle_inputs(bundle: Path) -> tuple[list[str], str]:
    """(phase names, model version) from the bundle's configs."""
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    return list(config.get("phases", ["AP", "PP", "LP"])), str(meta["version"])


class BundleInferenceOperator(CaseStepOperator):
    """Adds ``model_name``, ``model_version``, ``imaging_signature`` (probability of class 1, the mean
    over the patient's sub-cines) and ``heatmaps`` (list of {image, heatmap, sample}) to the case."""

    def __init__(self, fragment: Fragment, *args, bundle_folder: Path, **kwargs):
        self.bundle = Path(bundle_folder)
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        model_ts = self.bundle / "models" / "model.ts"
        if not model_ts.is_file():
            raise MissingBundleError(
                f"{model_ts}: the model bundle has no TorchScript model, so inference is NOT done and no "
                f"SR is written. Train and export it (`hccrisk train ceus`, issue 6) or point "
                f"HCCRISK_BUNDLE at a bundle folder with models/model.ts.")
        phases, version = bundle_inputs(self.bundle)
        samples = ceus_case_samples(case["patient_dir"], boxes=case["boxes"], phases=phases)
        x = torch.from_numpy(samples)  # (n_splits, P, n_frames, 64, 64)
        model = _load_torchscript(str(model_ts), model_ts.stat().st_mtime_ns)
        with torch.no_grad():
            signature = float(torch.softmax(model(x), 1)[:, 1].mean())
        log.info("imaging signature %.4f (%s %s)", signature, self.bundle.name, version)
        heatmaps = self._heatmaps(case, x, phases)
        return {"model_name": self.bundle.name, "model_version": version,
                        "imaging_signature": signature, "heatmaps": heatmaps}

    def _heatmaps(self, case: dict, x: torch.Tensor, phases: list[str]) -> list[dict]:
        weights = self.bundle / "models" / "model.pt"
        if not weights.is_file():
            log.warning("%s missing: no Grad-CAM heatmaps (TorchScript takes no hooks)", weights)
            return []
        from hccrisk.nets.cam import grad_cam

        net = _load_eager(str(weights), weights.stat().st_mtime_ns, len(phases))
        cam = grad_cam(net, x[:1])[0]  # (n_frames, 64, 64) on sub-cine 0
        cine = load_cine(case["patient_dir"])
        phase_codes = np.load(Path(cine.path), allow_pickle=False)["phase"]
        t = int(np.argmax(cam.reshape(len(cam), -1).sum(1)))  # the frame the net looked at most
        out = []
        for p, name in enumerate(phases):
            chosen = phase_indices(phase_codes, cine.valid, name, N_FRAMES * N_SPLITS)[0::N_SPLITS]  # sub-cine 0
            out.append({"phase": name, "image": x[0, p, t].numpy() * 255.0, "heatmap": cam[t],
                        "sample": int(chosen[t])})
        return out
