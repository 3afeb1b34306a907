"""The whole-liver network and the transforms its infer and train tasks share (one place)."""

from __future__ import annotations

from monai.networks.nets import UNet
from monai.transforms import EnsureChannelFirstd, LoadImaged, NormalizeIntensityd

LABELS = {"liver": 1}
#: patch on the image's own grid (x, y, z voxels); the infer slides it over the whole volume
ROI_SIZE = (64, 64, 32)
MODEL_FILE = "whole_liver.pt"


def network() -> UNet:
    """A small 3D UNet (MR phase in, background/liver logits out; ~0.1 M parameters: CPU-trainable)."""
    return UNet(spatial_dims=3, in_channels=1, out_channels=len(LABELS) + 1, channels=(8, 16, 32, 64),
                strides=(2, 2, 2), num_res_units=1)


def load_transforms(keys: tuple[str, ...]) -> list:
    """Read, channel first, z-score over the non-zero voxels (the MR phases come in arbitrary units)."""
    return [LoadImaged(keys=list(keys), image_only=False), EnsureChannelFirstd(keys=list(keys)),
            NormalizeIntensityd(keys="image", nonzero=True)]
