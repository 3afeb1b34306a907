"""The MONAI Deploy app end to end, run as a user runs it (deploy/run.sh -m deploy -i IN -o OUT) in the
deploy venv, on a synthetic CEUS study with its radiologist box SR and clinical.csv, with a ceus_mp bundle
trained by `hccrisk train ceus` and a nomogram exported from a fitted NomogramModel (tests/deploy/conftest.py).
The network is tiny (2 epochs on 8 patients): the tests check that the app computes what the library
computes, not the model's accuracy."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from hccrisk.results.sr import read_risk_sr
from tests.deploy.conftest import RUN, deploy_env, needs_deploy_venv, research_path_risk, research_path_signature
from tests.results.conftest import dciodvfy

pytestmark = [needs_deploy_venv(), pytest.mark.slow]


def run_app(study: Path, out: Path, bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUN), "-m", "deploy", "-i", str(study), "-o", str(out)],
                          env=deploy_env(HCCRISK_BUNDLE=str(bundle)), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def app_output(study, bundle, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    run = run_app(study, out, bundle)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def test_app_stops_without_model(study, bundle, tmp_path):
    empty = tmp_path / "ceus_mp"
    shutil.copytree(bundle / "configs", empty / "configs")
    run = run_app(study, tmp_path / "out", empty)
    assert run.returncode != 0
    assert f"{empty / 'models' / 'model.ts'}: the model bundle has no TorchScript model" in run.stdout + run.stderr
    assert not list((tmp_path / "out").rglob("*.dcm"))  # the SDK makes the folder; nothing is written into it


def test_app_writes_valid_sr_and_sc(app_output, study, bundle, nomogram_model, tmp_path):
    srs, scs = sorted(app_output.glob("SR_*.dcm")), sorted(app_output.glob("SC_*.dcm"))
    assert len(srs) == 1 and len(scs) == 3  # one report, one heatmap per phase (AP, PP, LP)
    assert sorted(p.name for p in app_output.iterdir()) == sorted(p.name for p in srs + scs)  # nothing else
    for path in srs + scs:
        errors, _ = dciodvfy(path)
        assert errors == [], path.name
    result = read_risk_sr(srs[0])
    signature = research_path_signature(study, bundle, tmp_path / "work")
    assert abs(result.imaging_signature - signature) <= 1e-6
    risk = research_path_risk(signature, study / "clinical.csv", "SYN0001", nomogram_model)
    assert abs(result.risk - risk) <= 1e-6 and result.missing == ()
    assert result.cutoff == 0.4 and result.risk_group == ("high" if result.risk >= 0.4 else "low")
    with open(study / "clinical.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["patient_id"] == "SYN0001")
    assert result.clinical["afp"] == pytest.approx(float(row["afp"]))
    assert result.clinical["child_pugh"] == row["child_pugh"]
    source_study = pydicom.dcmread(next(study.glob("*.dcm")), stop_before_pixels=True).StudyInstanceUID
    for path in srs + scs:
        assert pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID == source_study


def test_rerun_as_the_image_entry_point_gives_the_same_objects(app_output, study, bundle):
    """Re-run the study the way the container image runs (its entry point `deploy/run.sh -m deploy` with no
    argument, the folders from HOLOSCAN_INPUT_PATH / HOLOSCAN_OUTPUT_PATH) into the same output folder."""
    before = {p.name: pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in app_output.iterdir()}
    env = deploy_env(HCCRISK_BUNDLE=str(bundle), HOLOSCAN_INPUT_PATH=str(study), HOLOSCAN_OUTPUT_PATH=str(app_output))
    run = subprocess.run([str(RUN), "-m", "deploy"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    after = {p.name: pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in app_output.iterdir()}
    assert after == before  # same files, same SOP Instance UIDs: a PACS keeps one copy


def test_missing_clinical_value(study, bundle, tmp_path):
    """AFP missing: the SR still has the imaging signature, names AFP as missing, and has no risk."""
    folder = tmp_path / "study"
    shutil.copytree(study, folder)
    with open(study / "clinical.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["afp"] = ""
    with open(folder / "clinical.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    run = run_app(folder, tmp_path / "out", bundle)
    assert run.returncode == 0, run.stderr[-3000:]
    (sr,) = (tmp_path / "out").glob("SR_*.dcm")
    result = read_risk_sr(sr)
    assert result.risk is None and result.risk_group is None
    assert result.missing == ("afp",) and "afp" not in result.clinical
    assert 0.0 <= result.imaging_signature <= 1.0
    assert dciodvfy(sr)[0] == []
