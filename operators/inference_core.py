"""Bundle inference without the SDK: the CEUS network of ``bundles/<name>`` on a case's ROI crops, and
Grad-CAM key frames for the heatmaps (what ``BundleInferenceOperator`` runs; importable where the SDK
is not installed, so the GPU bench times exactly this code).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from hccrisk.errors import HccriskError
from hccrisk.nets.data import N_FRAMES, N_SPLITS, ceus_case_samples, phase_indices
from hccrisk.roi.cine import load_cine


class MissingBundleError(HccriskError):
    """The model bundle (or its TorchScript file) the app needs is not there."""


def check_bundle(bundle: Path) -> None:
    """Raise :class:`MissingBundleError` naming ``models/model.ts`` when the bundle has no model, so the
    app fails before it reads a study (and before the SDK is even imported)."""
    model_ts = Path(bundle) / "models" / "model.ts"
    if not model_ts.is_file():
        raise MissingBundleError(
            f"{model_ts}: the model bundle has no TorchScript model, so inference cannot run and no SR is "
            f"written. Train and export it (`hccrisk train ceus`) or point HCCRISK_BUNDLE (serve: --bundle) "
            f"at a bundle folder with models/model.ts.")


def bundle_inputs(bundle: Path) -> tuple[list[str], str]:
    """(phase names, model version) from the bundle's configs."""
    config = json.loads((Path(bundle) / "configs" / "inference.json").read_text())
    meta = json.loads((Path(bundle) / "configs" / "metadata.json").read_text())
    return list(config.get("phases", ["AP", "PP", "LP"])), str(meta["version"])


@lru_cache(maxsize=4)
def load_torchscript(path: str, mtime_ns: int, device: str = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript model, kept loaded across studies (a service runs many); a new file reloads."""
    return torch.jit.load(path, map_location=device).eval()


@lru_cache(maxsize=4)
def load_eager(path: str, mtime_ns: int, n_phases: int, device: str = "cpu") -> torch.nn.Module:
    """The eager CeusNet with the bundle's weights (Grad-CAM needs hooks), kept loaded like the TorchScript one."""
    from hccrisk.nets.ceus import CeusNet

    net = CeusNet(phases=n_phases)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    return net.to(device).eval()


def imaging_signature(bundle: Path, patient_dir: Path, boxes: np.ndarray, phases: list[str],
                      device: str = "cpu") -> tuple[float, torch.Tensor]:
    """(probability of class 1 averaged over the patient's sub-cines, the network input
    (n_splits, P, n_frames, 64, 64) on ``device``). ``boxes``: (T, 4) contrast-array pixels per 2 fps sample."""
    model_ts = Path(bundle) / "models" / "model.ts"
    x = torch.from_numpy(ceus_case_samples(patient_dir, boxes=boxes, phases=phases)).to(device)
    model = load_torchscript(str(model_ts), model_ts.stat().st_mtime_ns, device)
    with torch.no_grad():
        return float(torch.softmax(model(x), 1)[:, 1].mean()), x


def key_frame_heatmaps(bundle: Path, patient_dir: Path, x: torch.Tensor, phases: list[str],
                       device: str = "cpu") -> list[dict]:
    """Grad-CAM of sub-cine 0 on the frame the network looked at most: per phase {phase, image (64, 64)
    grey 0-255, heatmap (64, 64) in [0, 1], sample (index on the 2 fps timeline)}; [] without model.pt."""
    from hccrisk.nets.cam import grad_cam

    weights = Path(bundle) / "models" / "model.pt"
    if not weights.is_file():
        return []
    net = load_eager(str(weights), weights.stat().st_mtime_ns, len(phases), device)
    cam = grad_cam(net, x[:1])[0]  # (n_frames, 64, 64)
    cam = cam.detach().cpu().numpy() if isinstance(cam, torch.Tensor) else np.asarray(cam)
    cine = load_cine(patient_dir)
    phase_codes = np.load(Path(cine.path), allow_pickle=False)["phase"]
    t = int(np.argmax(cam.reshape(len(cam), -1).sum(1)))
    images = x[0, :, t].detach().cpu().numpy() * 255.0
    out = []
    for p, name in enumerate(phases):
        chosen = phase_indices(phase_codes, cine.valid, name, N_FRAMES * N_SPLITS)[0::N_SPLITS]  # sub-cine 0
        out.append({"phase": name, "image": images[p], "heatmap": cam[t], "sample": int(chosen[t])})
    return out
