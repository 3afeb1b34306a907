"""MRI networks: zhao2024's multi-phase ResNet-10/18/34 and DLRCR, chen2025's DenseNet-169 deep features.

Input of the multi-phase nets: (B, P * S, H, W), the S = 3 max-area tumour slices of each of the P = 3
phases (AP, PVP, DP; ``hccrisk.roi.mri.tumour_slices``) stacked phase-major on channels, H = W = 256 in
the paper. Each phase has its own 2D MONAI ResNet (in_channels = S); their pooled features (512 each)
are concatenated and a fully connected layer classifies.
"""

from __future__ import annotations

import pickle

import numpy as np
import torch
from torch import nn

from hccrisk.errors import InputError

RESNETS = ("resnet10", "resnet18", "resnet34")


def _resnet_features(depth: str, in_channels: int) -> nn.Module:
    from monai.networks import nets

    if depth not in RESNETS:
        raise InputError("ResNet depth", f"{depth!r} is not one of {RESNETS}")
    return getattr(nets, depth)(spatial_dims=2, n_input_channels=in_channels, feed_forward=False, pretrained=False)


class MultiPhaseResNet(nn.Module):
    """zhao2024's DL model: one ResNet per phase, features concatenated, FC -> (B, 2) logits.

    ``tabular`` > 0 makes it DLRCR: the DL features are reduced to ``fused_dl`` values (FC + ReLU) and
    concatenated with the selected radiomics and clinical predictors (``tabular`` standardised values)
    before the final FC; everything trains jointly. Call ``model(x)`` or ``model(x, tabular)``.
    """

    def __init__(self, depth: str = "resnet18", phases: int = 3, slices: int = 3, tabular: int = 0,
                 fused_dl: int = 16, dropout: float = 0.3):
        super().__init__()
        self.phases, self.slices, self.tabular = phases, slices, tabular
        self.phase_nets = nn.ModuleList(_resnet_features(depth, slices) for _ in range(phases))
        width = 512 * phases
        self.drop = nn.Dropout(dropout)
        if tabular:
            self.reduce = nn.Sequential(nn.Linear(width, fused_dl), nn.ReLU())
            self.fc = nn.Linear(fused_dl + tabular, 2)
        else:
            self.fc = nn.Linear(width, 2)

    def deep_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P * S, H, W) -> (B, 512 * P) concatenated pooled ResNet features."""
        if x.ndim != 4 or x.shape[1] != self.phases * self.slices:
            raise InputError("MRI input", f"need (B, {self.phases * self.slices}, H, W), got {tuple(x.shape)}")
        return torch.cat([net(x[:, p * self.slices:(p + 1) * self.slices]) for p, net in enumerate(self.phase_nets)], 1)

    def forward(self, x: torch.Tensor, tabular: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.drop(self.deep_features(x))
        if not self.tabular:
            return self.fc(feats)
        if tabular is None or tabular.shape[-1] != self.tabular:
            raise InputError("DLRCR input", f"need {self.tabular} tabular predictors per patient")
        return self.fc(torch.cat([self.reduce(feats), tabular], 1))


class DenseNetFeatures(nn.Module):
    """chen2025's deep feature extractor: MONAI DenseNet-169 (2D, trained here from scratch or loaded from
    user-supplied weights, never downloaded); ``deep_features`` is the final pooling layer (1664 values)."""

    def __init__(self, in_channels: int = 3, weights: str | None = None):
        super().__init__()
        from monai.networks.nets import DenseNet169

        self.net = DenseNet169(spatial_dims=2, in_channels=in_channels, out_channels=2, pretrained=False)
        if weights is not None:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:  # a file that is not a state dict
                raise InputError(weights, f"cannot read DenseNet-169 weights: {exc}") from None
            missing, unexpected = self.net.load_state_dict(state, strict=False)
            if len(missing) > 10:
                raise InputError(weights, f"not DenseNet-169 weights: {len(missing)} tensors missing")

    def deep_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1664): features after DenseNet-169's final ReLU + global average pooling."""
        f = self.net.features(x)
        layers = self.net.class_layers
        return layers.flatten(layers.pool(layers.relu(f)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def extract_features(model: nn.Module, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Deep features of many inputs: images (N, C, H, W) -> (N, F) float64 (model.deep_features, eval mode)."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            out.append(model.deep_features(torch.as_tensor(images[i:i + batch_size], dtype=torch.float32)).numpy())
    return np.concatenate(out).astype(np.float64)


def dl_score_model(n_components: int = 10, random_state: int = 0):
    """chen2025's DL score: standardise -> PCA -> LASSO-logistic selection of components
    (``hccrisk.features.lasso.LassoSelector``, glmnet-equivalent CV) -> ``hccrisk.models.scores.LinearScore``
    named "dl_score". A scikit-learn pipeline on ``extract_features`` output: ``transform`` gives the score
    column for a nomogram, ``predict_proba`` the probability."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hccrisk.features.lasso import LassoSelector
    from hccrisk.models.scores import LinearScore

    return make_pipeline(StandardScaler(), PCA(n_components=n_components, random_state=random_state),
                         LassoSelector(random_state=random_state), LinearScore(name="dl_score"))
