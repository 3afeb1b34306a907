"""The MONAI Deploy app end to end, run as a user runs it (deploy/run.sh -m deploy -i IN -o OUT) in the
deploy venv, on a synthetic CEUS study with its radiologist box SR and clinical.csv.

No trained bundle exists yet (issue 6), so the end-to-end run uses a bundle made here from an UNTRAINED
CeusNet (fixed seed): it tests the plumbing (every step, the DICOM objects, the numbers carried through),
not the model's accuracy.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from hccrisk.nets.ceus import build_ceus_net
from hccrisk.nets.cohort import export_torchscript
from hccrisk.nets.data import ceus_case_samples
from hccrisk.preprocess.ceus import ingest_ceus
from hccrisk.results.sr import read_risk_sr
from hccrisk.roi.box import CeusBox, stored_to_array
from hccrisk.roi.cine import load_cine
from hccrisk.roi.sr import read_box_sr, write_box_sr
from hccrisk.roi.tracking import track_box
from hccrisk.synth.cohort import generate_cohort
from tests.results.conftest import dciodvfy

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "deploy" / "run.sh"
pytestmark = pytest.mark.skipif(not (REPO / ".venv-deploy" / "bin" / "python").exists(),
                                reason="deploy venv .venv-deploy missing: run scripts/setup_deploy.sh")


def run_app(study: Path, out: Path, bundle: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HCCRISK_BUNDLE": str(bundle)}
    return subprocess.run([str(RUN), "-m", "deploy", "-i", str(study), "-o", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """One synthetic CEUS study folder: the clips, a box SR on an arterial frame, clinical.csv."""
    root = tmp_path_factory.mktemp("deploy")
    generate_cohort(root / "cohort", 1, seed=3, modality="ceus", workers=1, progress=False)
    folder = root / "study"
    folder.mkdir()
    files = {}
    for p in (root / "cohort" / "dicom").rglob("*"):
        if p.is_file():
            files[pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID] = shutil.copy(p, folder / p.name)
    with open(root / "cohort" / "rois" / "observer1" / "SYN0001" / "ceus_tumour.csv", newline="") as f:
        row = min(csv.DictReader(f), key=lambda r: abs(float(r["time_s"]) - 25.0))
    box = CeusBox(*(int(row[k]) for k in ("x0", "y0", "x1", "y1")), frame=int(row["frame"]))
    write_box_sr([(box, files[row["sop_instance_uid"]])], folder / "roi_sr.dcm")
    shutil.copy(root / "cohort" / "clinical.csv", folder / "clinical.csv")
    return folder


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """bundles/ceus_mp's configs with an untrained (seed 0) network as models/model.ts + model.pt, and a
    made-up nomogram (the coefficients are arbitrary: only the arithmetic and the plumbing are tested)."""
    folder = tmp_path_factory.mktemp("bundles") / "ceus_mp"
    shutil.copytree(REPO / "bundles" / "ceus_mp" / "configs", folder / "configs")
    (folder / "models").mkdir()
    torch.manual_seed(0)
    net = build_ceus_net("ceus_mp")
    torch.save(net.state_dict(), folder / "models" / "model.pt")
    export_torchscript(net, folder / "models" / "model.ts", (4, 3, 8, 64, 64))
    (folder / "nomogram.json").write_text(json.dumps(NOMOGRAM))
    return folder


NOMOGRAM = {"intercept": -0.3, "cutoff": 0.5, "signature": "dl_score",
            "coefs": {"dl_score": 2.0, "afp": 0.001, "alb": -0.02, "child_pugh": {"A": 0.0, "B": 0.7}}}


def expected_risk(signature: float, row: dict) -> float:
    lp = (NOMOGRAM["intercept"] + 2.0 * signature + 0.001 * float(row["afp"]) - 0.02 * float(row["alb"])
          + NOMOGRAM["coefs"]["child_pugh"][row["child_pugh"]])
    return 1.0 / (1.0 + math.exp(-lp))


@pytest.fixture(scope="module")
def app_output(study, bundle, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    run = run_app(study, out, bundle)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def research_path_signature(study: Path, bundle: Path, work: Path) -> float:
    """The same prediction through the library directly (what `hccrisk` computes outside the app)."""
    clips = sorted(p for p in study.iterdir() if p.name not in ("roi_sr.dcm", "clinical.csv"))
    ingest_ceus(clips, work)
    cine = load_cine(work)
    (stored, sop), = read_box_sr(study / "roi_sr.dcm")
    anchor_index = int(np.flatnonzero((cine.source_sop == sop) & (cine.source_frame == stored.frame))[0])
    boxes = track_box(cine, stored_to_array(stored, cine.region_origin), anchor_index=anchor_index).expanded(5.0)
    x = torch.from_numpy(ceus_case_samples(work, boxes=boxes.astype(float)))
    model = torch.jit.load(str(bundle / "models" / "model.ts")).eval()
    with torch.no_grad():
        return float(torch.softmax(model(x), 1)[:, 1].mean())


def test_app_stops_without_model(study, bundle, tmp_path):
    empty = tmp_path / "ceus_mp"
    shutil.copytree(bundle / "configs", empty / "configs")
    run = run_app(study, tmp_path / "out", empty)
    assert run.returncode != 0
    assert f"{empty / 'models' / 'model.ts'}: the model bundle has no TorchScript model" in run.stdout + run.stderr
    assert not list((tmp_path / "out").rglob("*.dcm"))  # the SDK makes the folder; nothing is written into it


def test_app_writes_valid_sr_and_sc(app_output, study, bundle, tmp_path):
    srs, scs = sorted(app_output.glob("SR_*.dcm")), sorted(app_output.glob("SC_*.dcm"))
    assert len(srs) == 1 and len(scs) == 3  # one report, one heatmap per phase (AP, PP, LP)
    assert sorted(p.name for p in app_output.iterdir()) == sorted(p.name for p in srs + scs)  # nothing else
    for path in srs + scs:
        errors, _ = dciodvfy(path)
        assert errors == [], path.name
    result = read_risk_sr(srs[0])
    signature = research_path_signature(study, bundle, tmp_path / "work")
    assert abs(result.imaging_signature - signature) <= 1e-6
    with open(study / "clinical.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert abs(result.risk - expected_risk(signature, row)) <= 1e-6 and result.missing == ()
    assert result.risk_group == ("high" if result.risk >= 0.5 else "low") and result.cutoff == 0.5
    assert result.clinical["afp"] == pytest.approx(float(row["afp"]))
    assert result.clinical["child_pugh"] == row["child_pugh"]
    source_study = pydicom.dcmread(next(study.glob("*")), stop_before_pixels=True).StudyInstanceUID
    for path in srs + scs:
        assert pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID == source_study


def test_rerun_gives_the_same_objects(app_output, study, bundle):
    before = {p.name: pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in app_output.iterdir()}
    run = run_app(study, app_output, bundle)
    assert run.returncode == 0, run.stderr[-3000:]
    after = {p.name: pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in app_output.iterdir()}
    assert after == before  # same files, same SOP Instance UIDs: a PACS keeps one copy


def test_missing_clinical_value(study, bundle, tmp_path):
    """AFP missing: the SR still has the imaging signature, names AFP as missing, and has no risk."""
    folder = tmp_path / "study"
    shutil.copytree(study, folder)
    with open(study / "clinical.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["afp"] = ""
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
