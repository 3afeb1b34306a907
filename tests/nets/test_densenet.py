"""chen2025's deep-feature network: the liver-slice input, seeded training, the feature table, the DL-score
pipeline, and the densenet_chen2025 bundle (MONAI's own metadata and shape checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from hccrisk.errors import InputError
from hccrisk.nets.deepfeatures import (N_FEATURES, SEQUENCES, deep_feature_table, dl_score_pipeline, liver_slices,
                                       train_densenet)
from hccrisk.nets.engine import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "densenet_chen2025"


def _volume(arr: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((1.0, 1.0, 1.0))
    return img


def _liver_case(rng: np.random.Generator, shift: int = 0) -> tuple[dict, dict]:
    """Four 'sequences' (20, 60, 60) of noise and a liver: a box whose area peaks at slices 11-13."""
    mask = np.zeros((20, 60, 60), np.uint8)
    for z in range(4, 17):
        half = 8 + (12 - abs(z - 12)) if z != 12 else 20
        mask[z, 30 - half // 2:30 + half // 2, 20 + shift:20 + shift + half] = 1
    vols = {s: _volume((rng.normal(size=mask.shape) + 3 * mask + k).astype(np.float32)) for k, s in enumerate(SEQUENCES)}
    return vols, {s: _volume(mask) for s in SEQUENCES}


def test_liver_slices_are_the_max_area_slices_of_the_liver_only():
    rng = np.random.default_rng(0)
    vols, livers = _liver_case(rng)
    x = liver_slices(vols, livers, size=32)
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32
    # outside the liver everything is 0; inside, the sequence's own intensities (3 + k on average)
    inside = x[:, 1] != 0
    assert 0.1 < inside.mean() < 0.95
    means = [x[k, 1][inside[k]].mean() for k in range(4)]
    assert np.allclose(means, [3, 4, 5, 6], atol=0.5)
    # the crop is around the liver: the middle slice (12, the largest) fills most of the frame
    assert inside[:, 1].mean() > inside[:, 0].mean() - 1e-9


def test_liver_slices_need_a_liver_mask_per_sequence():
    vols, livers = _liver_case(np.random.default_rng(0))
    del livers["T2"]
    with pytest.raises(InputError, match="T2"):
        liver_slices(vols, livers, size=32)


def _tiny_training(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    inputs = {f"P{i}": rng.normal(size=(4, 3, 32, 32)).astype(np.float32) + (i % 2) for i in range(8)}
    labels = pd.Series({f"P{i}": i % 2 for i in range(8)})
    torch.set_num_threads(1)
    config = TrainConfig(epochs=1, batch_size=8, lr=0.01, milestones=(), l1=0.0, patience=0, seed=seed, device="cpu")
    net, summary = train_densenet(inputs, labels, config, progress=False)
    assert summary["epochs"] == 1 and summary["n_samples"] == 32
    return deep_feature_table(net, inputs)


def test_training_is_seeded_and_the_feature_table_is_named_by_sequence():
    a, b = _tiny_training(0), _tiny_training(0)
    assert a.shape == (8, 4 * N_FEATURES)
    assert list(a.columns[:2]) == ["T2_dl0000", "T2_dl0001"] and a.columns[-1] == f"DP_dl{N_FEATURES - 1:04d}"
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(_tiny_training(1))


def test_bad_weights_file_is_named(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_text("not a state dict")
    with pytest.raises(InputError, match="weights.pt"):
        train_densenet({"P0": np.zeros((4, 3, 32, 32), np.float32)}, {"P0": 0}, weights=bad, progress=False)


def test_dl_score_finds_the_sequence_that_carries_the_signal():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    n, p = 120, 50
    y = rng.integers(0, 2, n)
    cols = [f"{s}_dl{j:04d}" for s in SEQUENCES for j in range(p)]
    X = pd.DataFrame(rng.normal(size=(n, 4 * p)), columns=cols)
    # AP's first ten features share a latent factor that carries the outcome: AP's first component
    latent = y + 0.8 * rng.normal(size=n)
    X.iloc[:, p:p + 10] += 1.5 * latent[:, None]
    train, test = np.arange(80), np.arange(80, n)
    pipe = dl_score_pipeline(n_components=5).fit(X.iloc[train], y[train])
    selected = pipe.named_steps["lasso"].get_feature_names_out()
    assert "AP__pc1" in selected
    assert roc_auc_score(y[test], pipe.decision_function(X.iloc[test])) > 0.7


def _monai_bundle(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=BUNDLE, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_bundle_metadata_and_network_shapes_verify():
    meta = _monai_bundle("verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", "../meta_schema.json")
    assert meta.returncode == 0 and "metadata is verified with no error" in meta.stderr + meta.stdout, meta.stderr[-2000:]
    net = _monai_bundle("verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json",
                        "--config_file", "configs/inference.json")
    assert net.returncode == 0, net.stderr[-2000:]
    assert "data shape of network is verified with no error" in net.stderr + net.stdout


def test_a_file_that_is_not_weights_is_named_in_a_clear_error(tmp_path):
    from hccrisk.errors import InputError
    from hccrisk.nets.mri import DenseNetFeatures

    bad = tmp_path / "densenet.pt"
    bad.write_text("not a state dict")
    with pytest.raises(InputError, match="densenet.pt.*cannot read DenseNet-169 weights"):
        DenseNetFeatures(weights=str(bad))
