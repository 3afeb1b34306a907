"""The CEUS cine network of liu2025 (R-DLCEUS): per-frame depthwise-separable convolutions + NetVLAD.

Input (B, P, T, H, W): P phase cines on channels (1 for CEUS-AP/-PP/-LP, 3 for CEUS-MP, phases aligned
by sampling the same number of frames evenly over each phase, see ``hccrisk.nets.data``), T frames at
their 2 fps times, H = W = the ROI crop (64 by default). Output (B, 2) logits (no early recurrence, early
recurrence).

Each "2D conv" block is a depthwise 3x3 conv (one filter per channel), a 2x2 max-pool, a pointwise 1x1
conv mixing the channels (the depthwise-separable structure of the paper), group norm and ReLU. The 2D
convolutions are written as ``Conv3d`` with (1, 3, 3) kernels and (1, 2, 2) pooling: identical to
applying a 2D conv to every frame with shared weights, but the activations keep their (T, h, w) layout,
so MONAI's Grad-CAM maps them straight back onto the frames. NetVLAD then aggregates the descriptors of
every frame and position (the global pooling over time and space) and a fully connected layer classifies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

PHASES = ("AP", "PP", "LP")  #: arterial (0-30 s), portal venous (30-120 s), late (120-360 s)
CEUS_MODELS = {"ceus_ap": ("AP",), "ceus_pp": ("PP",), "ceus_lp": ("LP",), "ceus_mp": PHASES}


class SeparableBlock(nn.Sequential):
    """Per-frame depthwise-separable 2D conv with 2x2 max-pool and ReLU:
    (B, Ci, T, H, W) -> (B, Co, T, H/2, W/2).

    Order: depthwise 3x3 conv, 2x2 max-pool, pointwise 1x1 conv, group norm, ReLU. Pooling between the
    depthwise and the pointwise conv (rather than after both) runs the channel-mixing conv and the norm on
    a quarter of the positions: 3.3x faster training on CPU for the same parameters.

    Group norm (8 groups, over the channels of a group and all frames and positions of one sample) is our
    addition: without any normalisation the activations of the default-initialised separable convs shrink
    layer by layer and NetVLAD sees only its centroids; batch norm's running statistics lag the weights
    with few small batches and make eval outputs differ from training ones. Group norm has neither problem
    and keeps the relative intensity of frames and positions (the enhancement pattern) within a sample.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv3d(in_channels, in_channels, (1, 3, 3), padding=(0, 1, 1), groups=in_channels, bias=False),
            nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(in_channels, out_channels, 1, bias=False),
            nn.GroupNorm(min(8, out_channels), out_channels),
            nn.ReLU(inplace=False),  # not in-place: Grad-CAM hooks read these activations
        )


class NetVLAD(nn.Module):
    """NetVLAD (Arandjelovic et al. 2016) over all frames and positions.

    (B, D, T, h, w) descriptors -> (B, K * D): the soft-assigned residuals to K learnt centroids, summed
    over the T*h*w descriptors, intra-normalised per cluster then L2-normalised and multiplied by a learnt
    scale (initially sqrt(K * D), so the FC layer sees unit-sized inputs: without it the normalised
    2,000-dim vector has entries ~0.02 and SGD at lr 1e-3 barely moves the classifier).
    """

    def __init__(self, dim: int, clusters: int):
        super().__init__()
        self.assign = nn.Conv3d(dim, clusters, 1)
        self.centroids = nn.Parameter(torch.randn(clusters, dim) * 0.1)
        self.scale = nn.Parameter(torch.tensor(float(clusters * dim) ** 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The descriptors are not L2-normalised first (NetVLAD's option): their magnitude carries the
        # enhancement intensity, which is what CEUS phases differ in.
        b = x.shape[0]
        soft = F.softmax(self.assign(x).flatten(2), dim=1)  # (B, K, N)
        desc = x.flatten(2)  # (B, D, N)
        # sum_n a_kn (x_n - c_k) = (A X^T)_k - (sum_n a_kn) c_k
        vlad = torch.bmm(soft, desc.transpose(1, 2)) - soft.sum(2).unsqueeze(2) * self.centroids
        vlad = F.normalize(vlad, dim=2)
        return self.scale * F.normalize(vlad.reshape(b, -1), dim=1)


class CeusNet(nn.Module):
    """liu2025's CEUS cine classifier (about 20,000 parameters with the defaults).

    Args:
        phases: number of phase cines on the input channels (1 single-phase, 3 multi-phase).
        widths: output channels of the separable blocks (each halves H and W).
        Defaults: 20,000 parameters for CEUS-MP.
        clusters: NetVLAD clusters.
        dropout: dropout before the final FC layer.
    """

    def __init__(self, phases: int = 3, widths: Sequence[int] = (16, 32, 64, 128), clusters: int = 16,
                 dropout: float = 0.2, num_classes: int = 2):
        super().__init__()
        chans = [phases, *widths]
        self.features = nn.Sequential(*(SeparableBlock(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.vlad = NetVLAD(widths[-1], clusters)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1] * clusters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, P, T, H, W) float, H and W divisible by 2**len(widths) -> (B, num_classes) logits."""
        return self.fc(self.drop(self.vlad(self.features(x))))


def build_ceus_net(model: str = "ceus_mp", **kwargs) -> CeusNet:
    """CEUS-AP / -PP / -LP / -MP by name (``CEUS_MODELS``); kwargs go to ``CeusNet``."""
    if model not in CEUS_MODELS:
        raise ValueError(f"unknown CEUS model {model!r}; expected one of {sorted(CEUS_MODELS)}")
    return CeusNet(phases=len(CEUS_MODELS[model]), **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
