"""The Cox-CNN bundles (R-RFA, R-SR): metadata and network shapes verify with MONAI's own checks;
``monai.bundle run`` of train.json trains on a small ingested synthetic cohort and inference.json on one
ingested case gives the log hazard training predicted for it; ``hccrisk train coxcnn`` names bad input."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = {"RFA": ROOT / "bundles" / "coxcnn_rfa", "SR": ROOT / "bundles" / "coxcnn_sr"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
CLI = str(Path(sys.executable).parent / "hccrisk")


def _monai_bundle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("treatment", sorted(BUNDLES))
def test_metadata_and_network_shapes_verify(treatment):
    bundle = BUNDLES[treatment]
    meta = _monai_bundle("verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", "../meta_schema.json",
                         cwd=bundle)
    assert meta.returncode == 0, meta.stderr[-2000:]
    assert "metadata is verified with no error" in meta.stderr + meta.stdout
    net = _monai_bundle("verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json",
                        "--config_file", "configs/inference.json", cwd=bundle)
    assert net.returncode == 0, net.stderr[-2000:]
    assert "data shape of network is verified with no error" in net.stderr + net.stdout


def test_train_command_names_bad_input(tmp_path):
    from typer.testing import CliRunner

    from hccrisk.cli import _register, app

    _register()
    args = ["train", "coxcnn", "--ingest", str(tmp_path), "--cohort", str(tmp_path / "nope"), "--out", str(tmp_path / "m")]
    res = CliRunner().invoke(app, [*args, "--treatment", "TACE"])
    assert res.exit_code == 2 and "TACE" in res.output
    res = CliRunner().invoke(app, [*args, "--treatment", "RFA"])
    assert res.exit_code == 2 and "clinical.csv" in res.output and "nope" in res.output


@pytest.mark.slow
def test_bundle_inference_reproduces_the_training_log_hazard(tmp_path):
    cohort, ingest, bundle = tmp_path / "cohort", tmp_path / "ingest", tmp_path / "bundle"
    for args in (["synth", "--out", str(cohort), "--patients", "16", "--seed", "5", "--modality", "ceus", "--workers", "1"],
                 ["ingest", str(cohort / "dicom"), "--out", str(ingest)]):
        res = subprocess.run([CLI, *args], env=ENV, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    shutil.copytree(BUNDLES["SR"] / "configs", bundle / "configs")  # 10 of the 16 patients had SR
    # training through the bundle's train.json (= hccrisk train coxcnn), 1 epoch, 2 sub-cines per patient
    res = _monai_bundle("run", "--config_file", "configs/train.json", "--bundle_root", str(bundle), "--ingest_dir",
                        str(ingest), "--cohort_dir", str(cohort), "--n_splits", "2", "--train_config#epochs", "1",
                        cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (bundle / "models" / "model.ts").exists() and (bundle / "models" / "summary.json").exists()
    rows = list(csv.DictReader((bundle / "models" / "predictions.csv").open()))
    assert {r["cohort"] for r in rows} == {"training", "validation"}
    pid = next(r for r in rows if r["cohort"] == "validation")["patient"]
    res = _monai_bundle("run", "--config_file", "configs/inference.json", "--bundle_root", str(bundle),
                        "--patient_dir", str(ingest / pid), "--roi_dir", str(cohort / "rois" / "observer1" / pid),
                        "--n_splits", "2", cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    out = list(csv.DictReader((bundle / "eval" / "log_hazard.csv").open()))
    assert [r["patient"] for r in out] == [pid]
    expected = float(next(r for r in rows if r["patient"] == pid)["log_hazard"])
    assert float(out[0]["log_hazard"]) == pytest.approx(expected, abs=1e-5)
