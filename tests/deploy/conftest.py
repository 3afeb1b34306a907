"""Fixtures for the app and service tests: a small synthetic CEUS cohort, a ceus_mp bundle TRAINED on it by
`hccrisk train ceus` (2 epochs: tiny, but a real trained bundle with model.ts and model.pt), a nomogram
fitted by hccrisk.models.NomogramModel and exported to the bundle's nomogram.json, and study folders
(one patient's clips + the radiologist's box SR + clinical.csv), plus the research-path prediction the
app's SR must equal."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from hccrisk.models import NomogramModel
from hccrisk.models.nomogram_file import nomogram_spec, write_nomogram_file
from hccrisk.nets.data import ceus_case_samples
from hccrisk.preprocess.ceus import ingest_ceus
from hccrisk.roi.box import stored_to_array
from hccrisk.roi.cine import load_cine
from hccrisk.roi.sr import read_box_sr
from hccrisk.roi.tracking import track_box
from hccrisk.synth.cohort import cohort_tables, generate_cohort

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "deploy" / "run.sh"
DEPLOY_VENV = REPO / ".venv-deploy" / "bin" / "python"
NOMOGRAM_PREDICTORS = ["dl_score", "afp", "alb", "child_pugh"]
N_PATIENTS = 8


def needs_deploy_venv():
    return pytest.mark.skipif(not DEPLOY_VENV.exists(), reason="deploy venv .venv-deploy missing: run "
                                                              "scripts/setup_deploy.sh")


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("deploy-cohort") / "cohort"
    generate_cohort(out, N_PATIENTS, seed=3, modality="ceus", workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def nomogram_model() -> NomogramModel:
    """A NomogramModel fitted on a 120-patient synthetic table; its imaging signature column is the true
    2-year risk plus noise (the 8-patient network's probabilities are too few to fit a model on)."""
    tables = cohort_tables(120, 0, 1.0)
    clinical, outcomes, truth = (tables[k].set_index("patient_id") for k in ("clinical", "outcomes", "truth"))
    data = clinical.join(outcomes[["er_2y"]])
    data["dl_score"] = np.clip(truth["p_er_2y"] + np.random.default_rng(0).normal(0, 0.1, len(truth)), 0.01, 0.99)
    data = data.dropna(subset=["er_2y"])
    return NomogramModel(NOMOGRAM_PREDICTORS, categorical=["child_pugh"]).fit(data[NOMOGRAM_PREDICTORS],
                                                                              data["er_2y"].astype(int))


@pytest.fixture(scope="session")
def bundle(cohort, nomogram_model, tmp_path_factory) -> Path:
    """bundles/ceus_mp's configs + models/ from `hccrisk ingest` and `hccrisk train ceus` (2 epochs, one
    thread) + nomogram.json from ``nomogram_model`` (cut-off 0.4)."""
    from hccrisk.cli import _register, app

    _register()
    root = tmp_path_factory.mktemp("deploy-bundle")
    folder = root / "ceus_mp"
    shutil.copytree(REPO / "bundles" / "ceus_mp" / "configs", folder / "configs")
    runner = CliRunner()
    threads = torch.get_num_threads()
    try:
        for args in (["ingest", str(cohort / "dicom"), "--out", str(root / "ingest")],
                     ["train", "ceus", "--ingest", str(root / "ingest"), "--cohort", str(cohort), "--out",
                      str(folder / "models"), "--model", "ceus_mp", "--label", "os_event", "--epochs", "2",
                      "--batch-size", "4", "--threads", "1"]):
            res = runner.invoke(app, args)
            assert res.exit_code == 0, res.output[-3000:]
    finally:
        torch.set_num_threads(threads)
    assert (folder / "models" / "model.ts").is_file() and (folder / "models" / "model.pt").is_file()
    write_nomogram_file(nomogram_spec(nomogram_model, 0.4, label="er_2y"), folder / "nomogram.json")
    return folder


def make_study(cohort: Path, patient_id: str, folder: Path, clinical: bool = True, one_box: bool = False) -> Path:
    """The patient's clips + box SR (+ clinical.csv): ``deploy.demo.make_demo_study`` (default: the MONAI
    Label app's per-frame box SR; ``one_box``: one box on one frame, tracked by the app)."""
    from deploy.demo import make_demo_study

    return make_demo_study(cohort, patient_id, folder, clinical, one_box)


@pytest.fixture(scope="session")
def study(cohort, tmp_path_factory) -> Path:
    return make_study(cohort, "SYN0001", tmp_path_factory.mktemp("deploy-study") / "SYN0001")


def research_path_signature(study: Path, bundle: Path, work: Path) -> float:
    """The imaging signature through the library directly (what `hccrisk` computes outside the app), the
    ROI as the research pipeline takes it: a box SR with a box on every frame (the MONAI Label app's) is a
    reading `hccrisk ingest` writes to rois/observer1/ceus_tumour.csv, used per sample with the 5 mm margin
    (``ceus_case_samples(roi_dir=...)``); a one-box SR is tracked from its frame (``track_box``). Then the
    bundle's TorchScript model."""
    if len(read_box_sr(study / "roi_sr.dcm")) > 1:
        from hccrisk.ingest.pipeline import ingest

        assert ingest(study, work / "ingest", workers=1, progress=False).n_done == 1
        (patient,) = (p for p in (work / "ingest").iterdir() if (p / "ceus.npz").is_file())
        x = torch.from_numpy(ceus_case_samples(patient, roi_dir=patient / "rois" / "observer1"))
    else:
        clips = sorted(p for p in study.glob("*.dcm") if p.name != "roi_sr.dcm")
        ingest_ceus(clips, work)
        cine = load_cine(work)
        (stored, sop), = read_box_sr(study / "roi_sr.dcm")
        anchor_index = int(np.flatnonzero((cine.source_sop == sop) & (cine.source_frame == stored.frame))[0])
        boxes = track_box(cine, stored_to_array(stored, cine.region_origin), anchor_index=anchor_index).expanded(5.0)
        x = torch.from_numpy(ceus_case_samples(work, boxes=boxes.astype(float)))
    model = torch.jit.load(str(bundle / "models" / "model.ts")).eval()
    with torch.no_grad():
        return float(torch.softmax(model(x), 1)[:, 1].mean())


def research_path_risk(signature: float, clinical_csv: Path, patient_id: str, model: NomogramModel) -> float:
    """The nomogram's probability from the fitted NomogramModel itself (``predict_proba``)."""
    table = pd.read_csv(clinical_csv, dtype={"patient_id": str}).set_index("patient_id")
    row = table.loc[[patient_id], NOMOGRAM_PREDICTORS[1:]].assign(dl_score=signature)
    return float(model.predict_proba(row[NOMOGRAM_PREDICTORS])[0, 1])


def deploy_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}
