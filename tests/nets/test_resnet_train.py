"""zhao2024's ResNet / DLRCR training wiring: a planted image signal is learnt, DLRCR uses its tabular
predictors from the first epoch, the validation patients never enter training, the tabular scaler and
the CLI refuse bad input by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hccrisk.errors import InputError
from hccrisk.nets.engine import TrainConfig
from hccrisk.nets.resnet_train import TabularScaler, read_tabular, train_arm

FAST = TrainConfig(epochs=8, batch_size=8, lr=1e-2, momentum=0.9, milestones=(), l1=0.0, l2=1e-4, patience=0)


def _toy(n: int = 40, size: int = 16, seed: int = 0) -> tuple[dict[str, np.ndarray], pd.Series]:
    """Noise slices; class 1 has a bright square in every phase's slices (the 'tumour' texture)."""
    rng = np.random.default_rng(seed)
    labels = pd.Series(np.tile([0, 1], n // 2), index=[f"P{i:03d}" for i in range(n)])
    inputs = {}
    for pid, y in labels.items():
        x = rng.normal(0, 1, (9, size, size)).astype(np.float32)
        if y:
            x[:, 4:12, 4:12] += 2.0
        inputs[pid] = x
    return inputs, labels


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_resnet_learns_a_planted_image_signal_and_predicts_unseen_patients():
    from sklearn.metrics import roc_auc_score

    inputs, labels = _toy()
    train = list(labels.index[:30])
    arm = train_arm(inputs, labels, train, "resnet10", FAST, seed=0, progress=False)
    assert set(arm.fit_ids) | set(arm.tune_ids) == set(train)
    assert not set(arm.fit_ids) & set(arm.tune_ids)
    val = labels.index[30:]
    auc = roc_auc_score(labels[val], arm.probabilities[val])
    print(f"\ntoy validation AUC {auc:.3f}, best epoch {arm.summary['best_epoch']}")
    assert auc >= 0.9
    assert arm.probabilities.between(0, 1).all() and len(arm.probabilities) == len(inputs)


def test_dlrcr_uses_its_tabular_predictors():
    """Images without signal, one informative tabular predictor: DLRCR separates the validation patients
    (warm-started fusion FC, then joint training); the plain ResNet cannot."""
    from sklearn.metrics import roc_auc_score

    inputs, labels = _toy(seed=1)
    rng = np.random.default_rng(2)
    for pid in inputs:
        inputs[pid] = rng.normal(0, 1, inputs[pid].shape).astype(np.float32)
    tab = pd.DataFrame({"marker": labels * 2.0 + rng.normal(0, 0.7, len(labels)), "noise": rng.normal(0, 1, len(labels))},
                       index=labels.index)
    tab.iloc[3, 1] = np.nan  # a missing value is filled with the training median
    train, val = list(labels.index[:30]), labels.index[30:]
    config = TrainConfig(**{**FAST.to_json(), "epochs": 3, "milestones": ()})
    fused = train_arm(inputs, labels, train, "resnet10", config, tabular=tab, seed=0, progress=False)
    auc = roc_auc_score(labels[val], fused.probabilities[val])
    truth = roc_auc_score(labels[val], tab.loc[val, "marker"])
    print(f"\nDLRCR validation AUC {auc:.3f}; the marker itself {truth:.3f}")
    assert auc >= truth - 0.1
    assert fused.scaler is not None and fused.scaler.columns == ("marker", "noise")


def test_tabular_scaler_uses_training_statistics_and_round_trips():
    train = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [5.0, 5.0, 5.0, 5.0]})
    scaler = TabularScaler.fit(train)
    assert scaler.median == (2.0, 5.0)
    x = scaler.transform(pd.DataFrame({"a": [np.nan, 4.0], "b": [5.0, 6.0]}))
    filled = np.array([1.0, 2.0, 2.0, 4.0])
    assert x[1, 0] == pytest.approx((4.0 - filled.mean()) / filled.std())
    assert x[0, 0] == pytest.approx((2.0 - filled.mean()) / filled.std())
    assert x[1, 1] == pytest.approx(1.0)  # a constant column keeps unit scale
    assert TabularScaler.from_json(scaler.to_json()) == scaler
    with pytest.raises(InputError, match="missing columns"):
        scaler.transform(pd.DataFrame({"a": [1.0]}))


def test_read_tabular_names_the_file_and_problem(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("patient_id,sex\nP1,M\n")
    with pytest.raises(InputError, match="not numeric: \\['sex'\\]"):
        read_tabular(bad)
    (tmp_path / "n.csv").write_text("id,a\nP1,1\n")
    with pytest.raises(InputError, match="no patient_id"):
        read_tabular(tmp_path / "n.csv")


def test_cli_train_resnet_reports_bad_input_and_exits_2(tmp_path):
    from typer.testing import CliRunner

    from hccrisk.cli import _register, app

    _register()
    res = CliRunner().invoke(app, ["train", "resnet", "--ingest", str(tmp_path), "--cohort", str(tmp_path),
                                   "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "outcomes.csv" in res.output
    res = CliRunner().invoke(app, ["train", "dlrcr", "--ingest", str(tmp_path), "--cohort", str(tmp_path),
                                   "--tabular", str(tmp_path / "none.csv"), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2


def test_dlrcr_without_any_selected_predictor_is_the_plain_net():
    inputs, labels = _toy(n=20, size=16)
    config = TrainConfig(**{**FAST.to_json(), "epochs": 1, "milestones": ()})
    arm = train_arm(inputs, labels, list(labels.index[:16]), "resnet10", config,
                    tabular=pd.DataFrame(index=labels.index), seed=0, progress=False)
    assert arm.scaler is None and arm.net.tabular == 0


@pytest.mark.parametrize("tabular", [0, 3])
def test_saved_arm_has_a_torchscript_that_gives_the_networks_outputs(tmp_path, tabular):
    """model.ts (the MONAI Deploy operator's format) of the ResNet and of DLRCR (tabular second input)."""
    from hccrisk.nets.mri import MultiPhaseResNet
    from hccrisk.nets.resnet_train import TrainedNet, save_arm

    torch.manual_seed(0)
    net = MultiPhaseResNet("resnet10", tabular=tabular).eval()
    ids = ["a", "b", "c"]
    arm = TrainedNet(net, "resnet10", pd.Series([0.2, 0.5, 0.7], index=ids), ["a"], ["b"])
    save_arm(arm, tmp_path, pd.Series([0, 1, 1], index=ids), ["a", "b"], (9, 32, 32))
    ts = torch.jit.load(str(tmp_path / "model.ts"))
    x = torch.rand(2, 9, 32, 32)
    args = (x, torch.rand(2, tabular)) if tabular else (x,)
    with torch.no_grad():
        assert torch.allclose(ts(*args), net(*args), atol=1e-5)
