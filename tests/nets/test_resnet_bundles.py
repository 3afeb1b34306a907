"""The zhao2024 bundles (resnet_zhao2024, dlrcr_zhao2024): metadata and network shapes verify with
MONAI's own checks; ``monai.bundle run`` of inference.json on an ingested synthetic case gives exactly
the probability that the training code path (``hccrisk.nets.resnet_train``) gives for that case."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = {"resnet": ROOT / "bundles" / "resnet_zhao2024", "dlrcr": ROOT / "bundles" / "dlrcr_zhao2024"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _monai_bundle(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("name", ["resnet", "dlrcr"])
def test_metadata_and_network_shapes_verify(name):
    from monai.bundle import verify_net_in_out

    bundle = BUNDLES[name]
    meta = _monai_bundle("verify_metadata", "--meta_file", "configs/metadata.json", "--filepath",
                         "../meta_schema.json", cwd=bundle)
    assert meta.returncode == 0, meta.stderr[-2000:]
    assert "metadata is verified with no error" in meta.stderr + meta.stdout
    extra = {"tabular": torch.zeros(1, 8)} if name == "dlrcr" else None  # 8: n_tabular_default without weights
    cwd = Path.cwd()
    os.chdir(bundle)
    try:
        verify_net_in_out("network_def", meta_file="configs/metadata.json", config_file="configs/inference.json",
                          device="cpu", extra_forward_args=extra)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def mri_case(tmp_path_factory) -> tuple[Path, Path, str]:
    """One synthetic MRI patient, AP/PVP/DP ingested (N4 off: not needed to compare two code paths)."""
    from hccrisk.dicom.scan import scan
    from hccrisk.dicom.select import select_mri
    from hccrisk.preprocess.mri import ingest_mri
    from hccrisk.synth.cohort import generate_cohort

    root = tmp_path_factory.mktemp("zhao_bundle")
    cohort, ingest = root / "cohort", root / "ingest"
    generate_cohort(cohort, n_patients=1, seed=3, modality="mri", workers=1, progress=False)
    (pid, series), = scan(cohort / "dicom").by_patient().items()
    phases, _ = select_mri(series)
    ingest_mri({p: [i.path for i in phases[p].instances] for p in ("AP", "PVP", "DP")}, ingest / pid, n4=False)
    return cohort, ingest, pid


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet", "dlrcr"])
def test_bundle_inference_equals_the_training_code_path(name, mri_case, tmp_path):
    from hccrisk.nets.engine import predict, seed_everything
    from hccrisk.nets.mri import MultiPhaseResNet
    from hccrisk.nets.resnet_train import TabularScaler, observer_inputs

    cohort, ingest, pid = mri_case
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLES[name] / "configs", bundle / "configs")
    (bundle / "models").mkdir()
    seed_everything(7)
    sample: dict = {"patient": pid}
    args = ["--patient_dir", str(ingest / pid), "--roi_dir", str(cohort / "rois" / "observer1" / pid)]
    if name == "dlrcr":
        table = pd.DataFrame({"AP_original_firstorder_Mean": [1.5, 0.2, -0.7], "ast": [40.0, None, 95.0],
                              "tumour_size": [3.1, 5.2, 2.0]}, index=pd.Index([pid, "other1", "other2"], name="patient_id"))
        scaler = TabularScaler.fit(table.iloc[1:])
        (bundle / "models" / "tabular.json").write_text(json.dumps(scaler.to_json()))
        table.to_csv(tmp_path / "tabular.csv")
        sample["tabular"] = scaler.transform(table.loc[[pid]])[0]
        args += ["--tabular_csv", str(tmp_path / "tabular.csv"), "--patient_id", pid]
    net = MultiPhaseResNet("resnet10", tabular=3 if name == "dlrcr" else 0)
    torch.save(net.state_dict(), bundle / "models" / "model.pt")
    res = _monai_bundle("run", "--config_file", "configs/inference.json", "--bundle_root", str(bundle), *args, cwd=bundle)
    assert res.returncode == 0, res.stderr[-3000:]
    out = list(csv.DictReader((bundle / "eval" / "probabilities.csv").open()))
    assert [r["patient"] for r in out] == [pid]
    inputs, failures = observer_inputs(ingest, cohort / "rois" / "observer1", [pid], tmp_path / "inputs", progress=False)
    assert not failures
    expected = predict(net.eval(), [{**sample, "image": inputs[pid]}], device="cpu")[pid]
    assert float(out[0]["probability"]) == pytest.approx(expected, abs=1e-5)
