"""The CEUS-MP bundle: metadata and network shapes verify with MONAI's own checks; ``monai.bundle run`` of
train.json trains on a small ingested synthetic cohort and of inference.json on one ingested case gives the
probability training predicted for it."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "bundles" / "ceus_mp"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _monai_bundle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300)


def test_metadata_and_network_shapes_verify():
    meta = _monai_bundle("verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", "../meta_schema.json",
                         cwd=BUNDLE)
    assert meta.returncode == 0, meta.stderr[-2000:]
    assert "metadata is verified with no error" in meta.stderr + meta.stdout
    net = _monai_bundle("verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json",
                        "--config_file", "configs/inference.json", cwd=BUNDLE)
    assert net.returncode == 0, net.stderr[-2000:]
    assert "data shape of network is verified with no error" in net.stderr + net.stdout


def test_bad_metadata_fails_verification(tmp_path):
    import json

    shutil.copytree(BUNDLE / "configs", tmp_path / "configs")
    shutil.copy(BUNDLE.parent / "meta_schema.json", tmp_path / "schema.json")
    meta = json.loads((tmp_path / "configs" / "metadata.json").read_text())
    del meta["network_data_format"]["inputs"]["image"]["num_channels"]
    (tmp_path / "configs" / "metadata.json").write_text(json.dumps(meta))
    res = _monai_bundle("verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", "schema.json",
                        cwd=tmp_path)
    assert res.returncode != 0


@pytest.mark.slow
def test_bundle_inference_reproduces_the_training_prediction(tmp_path):
    cohort, ingest, bundle = tmp_path / "cohort", tmp_path / "ingest", tmp_path / "bundle"
    cli = [str(Path(sys.executable).parent / "hccrisk")]
    for args in (["synth", "--out", str(cohort), "--patients", "8", "--seed", "5", "--modality", "ceus", "--workers", "1"],
                 ["ingest", str(cohort / "dicom"), "--out", str(ingest)]):
        res = subprocess.run([*cli, *args], env=ENV, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    shutil.copytree(BUNDLE / "configs", bundle / "configs")
    # training through the bundle's train.json (= hccrisk train ceus), 1 epoch, 2 sub-cines per patient
    res = _monai_bundle("run", "--config_file", "configs/train.json", "--bundle_root", str(bundle), "--ingest_dir",
                        str(ingest), "--cohort_dir", str(cohort), "--label", "os_event", "--n_splits", "2",
                        "--train_config#epochs", "1", "--train_config#batch_size", "4", cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (bundle / "models" / "model.ts").exists()
    rows = list(csv.DictReader((bundle / "models" / "predictions.csv").open()))
    pid = rows[0]["patient"]
    res = _monai_bundle("run", "--config_file", "configs/inference.json", "--bundle_root", str(bundle),
                        "--patient_dir", str(ingest / pid), "--roi_dir", str(cohort / "rois" / "observer1" / pid),
                        "--n_splits", "2", cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    out = list(csv.DictReader((bundle / "eval" / "probabilities.csv").open()))
    assert [r["patient"] for r in out] == [pid]
    assert float(out[0]["probability"]) == pytest.approx(float(rows[0]["probability"]), abs=1e-5)
