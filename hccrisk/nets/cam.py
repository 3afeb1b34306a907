"""Class activation maps over the input frames / slices: Grad-CAM (MONAI's) and Score-CAM (ours: MONAI
has none), returned as arrays, plus an overlay figure.

Both take a network input x (B, C, *spatial), e.g. CEUS (B, phases, T, H, W) -> maps (B, T, H, W) over
every frame, or MRI slices (B, channels, H, W) -> (B, H, W); maps are scaled to [0, 1] per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hccrisk.errors import InputError


def default_target_layer(model: nn.Module) -> str:
    """The last feature block of our networks (CeusNet: ``features``' last block; multi-phase ResNet:
    the first phase's ``layer4``; DenseNet features: ``features``)."""
    from hccrisk.nets.ceus import CeusNet

    if isinstance(model, CeusNet):
        return f"features.{len(model.features) - 1}"
    names = dict(model.named_modules())
    for name in ("phase_nets.0.layer4", "net.features", "features"):
        if name in names:
            return name
    raise InputError(type(model).__name__, "no default CAM layer: pass target_layer")


def _normalise(maps: torch.Tensor) -> np.ndarray:
    flat = maps.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).reshape(maps.shape).cpu().numpy().astype(np.float32)


def grad_cam(model: nn.Module, x: torch.Tensor, target_layer: str | None = None, class_idx: int = 1) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017, ``monai.visualize.GradCAM``) of ``class_idx``.

    Returns:
        (B, *spatial) float32 in [0, 1], at the input's spatial size.
    """
    from monai.visualize import GradCAM

    model.eval()
    cam = GradCAM(nn_module=model, target_layers=target_layer or default_target_layer(model))
    with torch.enable_grad():
        maps = cam(x=x.detach().clone().requires_grad_(False), class_idx=class_idx)
    return _normalise(maps[:, 0].detach())


def score_cam(model: nn.Module, x: torch.Tensor, target_layer: str | None = None, class_idx: int = 1,
              batch_size: int = 16) -> np.ndarray:
    """Score-CAM (Wang et al. 2020): each activation map of the target layer, upsampled to the input and
    scaled to [0, 1], masks the input; the weight of the map is the softmax probability of ``class_idx``
    for that masked input; the CAM is ReLU(sum of weight x map). Gradient-free.

    Returns:
        (B, *spatial) float32 in [0, 1].
    """
    model.eval()
    layer = dict(model.named_modules()).get(target_layer or default_target_layer(model))
    if layer is None:
        raise InputError(type(model).__name__, f"no layer named {target_layer!r}")
    store: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: store.append(out.detach()))
    try:
        with torch.no_grad():
            model(x)
            acts = store[-1]  # (B, K, *s)
    finally:
        handle.remove()
    spatial = tuple(x.shape[2:])
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(spatial)]
    out = []
    with torch.no_grad():
        for b in range(x.shape[0]):
            maps = F.interpolate(acts[b:b + 1], size=spatial, mode=mode, align_corners=False)[0]  # (K, *S)
            flat = maps.flatten(1)
            lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
            masks = ((flat - lo) / (hi - lo).clamp_min(1e-12)).reshape(maps.shape)
            weights = []
            for i in range(0, len(masks), batch_size):
                m = masks[i:i + batch_size].unsqueeze(1)  # (k, 1, *S): same mask on every channel
                weights.append(torch.softmax(model(x[b:b + 1] * m), 1)[:, class_idx])
            w = torch.cat(weights)
            out.append(F.relu((w.view(-1, *([1] * len(spatial))) * maps).sum(0)))
    return _normalise(torch.stack(out))


def overlay_figure(frames: np.ndarray, cam: np.ndarray, path: str | Path, titles: Sequence[str] | None = None,
                   alpha: float = 0.45, columns: int = 8) -> Path:
    """Save a grid of frames (N, H, W) with their heat maps (N, H, W, values in [0, 1]) overlaid (jet:
    red = high relevance, as liu2025's figure 6). Returns the written path (PNG or PDF by suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames, cam = np.asarray(frames, float), np.asarray(cam, float)
    if frames.shape != cam.shape or frames.ndim != 3:
        raise InputError("CAM overlay", f"need frames and maps of one (N, H, W) shape, got {frames.shape} and {cam.shape}")
    n = len(frames)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        ax = axes.ravel()[i]
        ax.imshow(frames[i], cmap="gray")
        ax.imshow(cam[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def cam_triptych_figure(frames: np.ndarray, cam: np.ndarray, row_titles: Sequence[str], alpha: float = 0.45) -> tuple:
    """liu2025 figure 6 layout: one row per frame (N, H, W), columns original grey image, pseudo-colour
    heat map (jet, red = high relevance), heat map over the image. ``cam`` (N, H, W) in [0, 1].
    Returns (matplotlib figure, numbers: per row the title and the map's peak position (row, col))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames, cam = np.asarray(frames, float), np.asarray(cam, float)
    if frames.shape != cam.shape or frames.ndim != 3 or len(row_titles) != len(frames):
        raise InputError("CAM figure", f"need frames and maps of one (N, H, W) shape and N titles, got "
                         f"{frames.shape}, {cam.shape}, {len(row_titles)} titles")
    fig, axes = plt.subplots(len(frames), 3, figsize=(5.4, 1.85 * len(frames)), squeeze=False)
    numbers = []
    for i, (f, c, title) in enumerate(zip(frames, cam, row_titles)):
        axes[i, 0].imshow(f, cmap="gray", vmin=0, vmax=1)
        axes[i, 1].imshow(c, cmap="jet", vmin=0, vmax=1)
        axes[i, 2].imshow(f, cmap="gray", vmin=0, vmax=1)
        axes[i, 2].imshow(c, cmap="jet", alpha=alpha, vmin=0, vmax=1)
        axes[i, 0].set_ylabel(title, fontsize=8)
        numbers.append({"frame": title, "peak_row_col": [int(v) for v in np.unravel_index(np.argmax(c), c.shape)]})
    for j, name in enumerate(("CEUS frame", "Grad-CAM", "Overlay")):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig, {"rows": numbers}
