"""The four CEUS bundles (ceus_ap, ceus_pp, ceus_lp, ceus_mp; shared configs in bundles/ceus_common):
metadata and network shapes verify with MONAI's own checks; each bundle's inference config, run by MONAI's
bundle runner on one ingested case, gives the probability the library computes for that case; the
TorchScript export loads in MONAI Deploy's MonaiBundleInferenceOperator (deploy venv); ``python -m
monai.bundle run`` of train.json trains on a small ingested cohort and inference reproduces training's
prediction."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = {"ceus_ap": ["AP"], "ceus_pp": ["PP"], "ceus_lp": ["LP"], "ceus_mp": ["AP", "PP", "LP"]}
CONFIGS = ["configs/common.json", "configs/inference.json"]  # the shared pipeline, then the model's own keys
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
DEPLOY_PYTHON = ROOT / ".venv-deploy" / "bin" / "python"


def _monai_bundle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> tuple[Path, Path]:
    """One ingested synthetic CEUS patient: (patient folder, observer1 ROI folder)."""
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.synth.cohort import generate_cohort

    root = tmp_path_factory.mktemp("bundle-case")
    generate_cohort(root / "cohort", 1, 3, 1.0, "ceus", "default", 1, progress=False)
    ingest(root / "cohort" / "dicom", root / "ingest", progress=False)
    pid = next(p.name for p in (root / "ingest").iterdir() if (p / "ceus.npz").exists())
    return root / "ingest" / pid, root / "cohort" / "rois" / "observer1" / pid


def _bundle_with_weights(name: str, dest: Path, seed: int = 0) -> torch.nn.Module:
    """A copy of bundle ``name`` (shared configs copied as files) with seeded untrained weights in models/."""
    from hccrisk.nets.ceus import build_ceus_net
    from hccrisk.nets.cohort import export_torchscript

    shutil.copytree(ROOT / "bundles" / name, dest, symlinks=False)
    torch.manual_seed(seed)
    net = build_ceus_net(name).eval()
    torch.save(net.state_dict(), dest / "models" / "model.pt")
    export_torchscript(net, dest / "models" / "model.ts", (1, len(BUNDLES[name]), 8, 64, 64))
    return net


@pytest.mark.parametrize("name", list(BUNDLES))
def test_metadata_and_network_shapes_verify(name, monkeypatch):
    from monai.bundle import verify_metadata, verify_net_in_out

    bundle = ROOT / "bundles" / name
    monkeypatch.chdir(bundle)
    verify_metadata(meta_file="configs/metadata.json", filepath="../meta_schema.json")  # raises when invalid
    verify_net_in_out(net_id="network_def", meta_file="configs/metadata.json", config_file=CONFIGS)
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    meta = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert config["model_name"] == name and config["phases"] == BUNDLES[name]
    assert meta["network_data_format"]["inputs"]["image"]["num_channels"] == len(BUNDLES[name])


def test_single_phase_metadata_does_not_fit_the_multiphase_network(monkeypatch):
    from monai.bundle import verify_net_in_out

    monkeypatch.chdir(ROOT / "bundles" / "ceus_mp")
    with pytest.raises(Exception):
        verify_net_in_out(net_id="network_def", meta_file="../ceus_ap/configs/metadata.json", config_file=CONFIGS)


def test_bad_metadata_fails_verification(tmp_path):
    from monai.bundle import verify_metadata

    meta = json.loads((ROOT / "bundles" / "ceus_mp" / "configs" / "metadata.json").read_text())
    del meta["network_data_format"]["inputs"]["image"]["num_channels"]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="num_channels"):
        verify_metadata(meta_file=str(tmp_path / "metadata.json"), filepath=str(ROOT / "bundles" / "meta_schema.json"))


@pytest.mark.parametrize("name", list(BUNDLES))
def test_inference_config_gives_the_library_probability(name, case, tmp_path, monkeypatch):
    from monai.bundle import run

    from hccrisk.nets.data import ceus_case_samples

    patient_dir, roi_dir = case
    bundle = tmp_path / name
    net = _bundle_with_weights(name, bundle)
    monkeypatch.chdir(bundle)
    run(run_id="run", config_file=CONFIGS, bundle_root=str(bundle), patient_dir=str(patient_dir), roi_dir=str(roi_dir))
    rows = list(csv.DictReader((bundle / "eval" / "probabilities.csv").open()))
    assert [r["patient"] for r in rows] == [patient_dir.name]
    x = torch.as_tensor(ceus_case_samples(patient_dir, roi_dir=roi_dir, phases=BUNDLES[name]))
    with torch.no_grad():
        expected = float(torch.softmax(net(x), 1)[:, 1].mean())
    assert float(rows[0]["probability"]) == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(not DEPLOY_PYTHON.exists(), reason=".venv-deploy (MONAI Deploy App SDK) is not installed: "
                    "run scripts/setup_deploy.sh to test the bundles in MonaiBundleInferenceOperator")
def test_torchscript_loads_in_monai_deploy_bundle_operator(tmp_path):
    names = ["ceus_ap", "ceus_mp"]  # one and three phases; one deploy process (its start-up costs ~15 s)
    nets = {n: _bundle_with_weights(n, tmp_path / n) for n in names}
    script = ROOT / "tests" / "nets" / "deploy_bundle_check.py"
    res = subprocess.run([str(DEPLOY_PYTHON), str(script), *(str(tmp_path / n) for n in names)], env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [json.loads(line) for line in res.stdout.strip().splitlines() if line.startswith("{")]
    assert len(lines) == len(names)
    for name, out in zip(names, lines):
        assert out["type"] == "RecursiveScriptModule" and out["phases"] == BUNDLES[name]
        assert out["preprocessing"] == ["LoadIngestedCeusd", "CropCeusRoid", "CeusPhaseSamplesd", "DeleteItemsd"]
        torch.manual_seed(1)  # the script's input
        with torch.no_grad():
            expected = nets[name](torch.rand(2, len(BUNDLES[name]), 8, 64, 64)).numpy()
        np.testing.assert_allclose(np.array(out["logits"]), expected, atol=1e-5)


@pytest.mark.slow
def test_bundle_training_then_inference_reproduces_the_training_prediction(tmp_path):
    cohort, ingest, bundle = tmp_path / "cohort", tmp_path / "ingest", tmp_path / "bundle"
    cli = [str(Path(sys.executable).parent / "hccrisk")]
    for args in (["synth", "--out", str(cohort), "--patients", "8", "--seed", "5", "--modality", "ceus", "--workers", "1"],
                 ["ingest", str(cohort / "dicom"), "--out", str(ingest)]):
        res = subprocess.run([*cli, *args], env=ENV, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    shutil.copytree(ROOT / "bundles" / "ceus_mp" / "configs", bundle / "configs", symlinks=True)  # links kept
    shutil.copytree(ROOT / "bundles" / "ceus_common", tmp_path / "ceus_common")
    # training through the bundle's train.json (= hccrisk train ceus), 1 epoch, 2 sub-cines per patient
    res = _monai_bundle("run", "--config_file", str(CONFIGS + ["configs/train.json"]), "--bundle_root", str(bundle),
                        "--ingest_dir", str(ingest), "--cohort_dir", str(cohort), "--label", "os_event",
                        "--n_splits", "2", "--train_config#epochs", "1", "--train_config#batch_size", "4", cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (bundle / "models" / "model.ts").exists()
    rows = list(csv.DictReader((bundle / "models" / "predictions.csv").open()))
    pid = rows[0]["patient"]
    res = _monai_bundle("run", "--config_file", str(CONFIGS), "--bundle_root", str(bundle),
                        "--patient_dir", str(ingest / pid), "--roi_dir", str(cohort / "rois" / "observer1" / pid),
                        "--n_splits", "2", cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    out = list(csv.DictReader((bundle / "eval" / "probabilities.csv").open()))
    assert [r["patient"] for r in out] == [pid]
    assert float(out[0]["probability"]) == pytest.approx(float(rows[0]["probability"]), abs=1e-5)
