"""Network shapes and parameter counts (liu2025 CEUS net, zhao2024 ResNets/DLRCR, chen2025 DenseNet)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hccrisk.errors import InputError
from hccrisk.nets.ceus import CEUS_MODELS, build_ceus_net, count_parameters
from hccrisk.nets.data import ceus_phase_samples, phase_indices


@pytest.mark.parametrize("name", sorted(CEUS_MODELS))
def test_ceus_net_has_about_20k_parameters_and_two_logits(name):
    net = build_ceus_net(name)
    n = count_parameters(net)
    print(f"{name}: {n} parameters")
    assert 18_000 <= n <= 22_000
    x = torch.rand(2, len(CEUS_MODELS[name]), 4, 32, 32)
    assert net(x).shape == (2, 2)


def test_phase_samples_align_phases_of_different_lengths_and_interleave():
    # 10 AP samples, 30 PP, 60 LP, a gap and pre-injection samples in between
    phase = np.array([-1] * 3 + [0] * 10 + [1] * 30 + [2] * 60, np.int8)
    valid = np.ones(len(phase), bool)
    valid[20:25] = False
    crops = np.arange(len(phase), dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    out = ceus_phase_samples(crops, phase, valid, n_frames=3, n_splits=2)
    assert out.shape == (2, 3, 3, 4, 4)
    frames = out[..., 0, 0] * 255  # the sample index each frame came from
    for p, code in enumerate((0, 1, 2)):
        used = np.sort(frames[:, p].ravel())
        assert all(phase[int(round(i))] == code and valid[int(round(i))] for i in used)
    # interleaved: sub-cine 0 takes the even picks, sub-cine 1 the odd ones, both span the phase
    picks = phase_indices(phase, valid, "LP", 6)
    np.testing.assert_allclose(frames[0, 2], picks[0::2])
    np.testing.assert_allclose(frames[1, 2], picks[1::2])
    assert picks[0] == 43 and picks[-1] == len(phase) - 1


def test_missing_phase_is_a_clear_error():
    phase = np.zeros(10, np.int8)
    with pytest.raises(InputError, match="no valid sample in the PP phase"):
        ceus_phase_samples(np.zeros((10, 4, 4)), phase, np.ones(10, bool))


def test_multiphase_resnet_and_dlrcr_shapes():
    from hccrisk.nets.mri import MultiPhaseResNet

    net = MultiPhaseResNet("resnet10")
    x = torch.rand(2, 9, 32, 32)
    assert net.deep_features(x).shape == (2, 1536)
    assert net(x).shape == (2, 2)
    fused = MultiPhaseResNet("resnet10", tabular=4)
    assert fused(x, torch.rand(2, 4)).shape == (2, 2)
    with pytest.raises(InputError, match="tabular"):
        fused(x)
    with pytest.raises(InputError, match="need \\(B, 9, H, W\\)"):
        net(torch.rand(2, 3, 32, 32))


def test_densenet169_final_pooling_gives_1664_features():
    from hccrisk.nets.mri import DenseNetFeatures, extract_features

    net = DenseNetFeatures(in_channels=3)
    feats = extract_features(net, np.random.default_rng(0).random((3, 3, 32, 32), np.float32))
    assert feats.shape == (3, 1664)
    assert np.isfinite(feats).all()
