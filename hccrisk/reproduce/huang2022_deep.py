"""huang2022's deep features: a small 2D convolutional encoder trained here (never downloaded) on the two box
crops of each patient (grayscale and peak CEUS frame on two channels); its global-average-pooled last
block is the deep feature vector (``DEEP_FEATURES`` values per patient).

Why an autoencoder: the paper took DL features from a network trained elsewhere (GE's platform; no
outcome labels of its patients), then selected them on the training cohort. ImageNet weights cannot be
fetched here, and a CNN trained on the training cohort's own outcome labels memorises them: its
features then look excellent on exactly the patients the selection and the models are fitted on (we
measured a cross-validated C-index of 0.84 in training on a 60-patient cohort) and carry nothing to
validation. The encoder is therefore trained without labels, to reconstruct the training cohort's crops
(mean squared error, Adam): like a pretrained network, it sees images only, and never the validation
patients. Four conv blocks (3x3 conv -> GroupNorm -> ReLU -> 2x2 max-pool, channels 16-32-64-128) on
64 x 64 crops, a mirrored transposed-conv decoder; ~0.2 M parameters, seconds per epoch on one core.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hccrisk.errors import InputError

DEEP_FEATURES = 128
EPOCHS = 40
GREY_SCALE = 255.0  #: crops are display grey levels; the network takes [0, 1]


class FrameAutoencoder(nn.Module):
    """(B, 2, H, W) crops in [0, 1] -> reconstruction (B, 2, H, W); ``deep_features`` -> (B, 128)."""

    def __init__(self, in_channels: int = 2, widths: tuple[int, ...] = (16, 32, 64, DEEP_FEATURES)):
        super().__init__()
        enc: list[nn.Module] = []
        c = in_channels
        for w in widths:
            enc += [nn.Conv2d(c, w, 3, padding=1), nn.GroupNorm(min(8, w), w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        for w in (*reversed(widths[:-1]), in_channels):
            dec += [nn.ConvTranspose2d(c, w, 2, stride=2)] + ([nn.GroupNorm(min(8, w), w), nn.ReLU()]
                                                              if w != in_channels else [nn.Sigmoid()])
            c = w
        self.decoder = nn.Sequential(*dec)

    def deep_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def train_frame_encoder(crops: np.ndarray, seed: int = 0, epochs: int = EPOCHS, batch_size: int = 16,
                        lr: float = 2e-3, progress: bool = False) -> FrameAutoencoder:
    """Train ``FrameAutoencoder`` to reconstruct (N, 2, H, W) grey-level crops (H, W divisible by 16):
    Adam, mean squared error, random horizontal flips; seeded (``hccrisk.nets.engine.seed_everything``),
    bit-identical for a fixed thread count. Returns the model in eval mode."""
    from tqdm.auto import tqdm

    from hccrisk.nets.engine import seed_everything

    x_all = torch.as_tensor(np.asarray(crops, dtype=np.float32) / GREY_SCALE)
    if x_all.ndim != 4 or x_all.shape[-1] % 16 or x_all.shape[-2] % 16 or len(x_all) < 2:
        raise InputError("encoder crops", f"need (N >= 2, C, H, W) crops with H, W divisible by 16, got {tuple(x_all.shape)}")
    seed_everything(seed)
    model = FrameAutoencoder(in_channels=x_all.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in tqdm(range(epochs), desc="deep-feature encoder", unit="epoch", disable=not progress):
        order = torch.randperm(len(x_all), generator=gen)
        for i in range(0, len(order), batch_size):
            x = x_all[order[i:i + batch_size]]
            flip = torch.rand(len(x), generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            loss = nn.functional.mse_loss(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def deep_features(model: FrameAutoencoder, crops: np.ndarray) -> np.ndarray:
    """(N, 2, H, W) grey-level crops -> (N, 128) float64 pooled encoder features (eval mode)."""
    from hccrisk.nets.mri import extract_features

    return extract_features(model, np.asarray(crops, dtype=np.float32) / GREY_SCALE, batch_size=32)


def deep_feature_names(n: int = DEEP_FEATURES) -> list[str]:
    return [f"deep_{i:03d}" for i in range(n)]
