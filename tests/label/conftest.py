"""The label server's fixtures: .venv-label (skip when absent), Orthanc with one synthetic patient, and
`monailabel start_server` on it in its own venv."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from hccrisk.pacs.orthanc_server import free_port
from tests.orthanc import orthanc, scp_port  # noqa: F401  (pytest fixtures)

REPO = Path(__file__).resolve().parents[2]
LABEL_VENV = Path(os.environ.get("HCCRISK_LABEL_VENV", REPO / ".venv-label"))
APP = REPO / "apps" / "hccrisk_label"
PATIENT = "SYN0001"  # CEUS (one dual-display clip) and MRI
MULTI_CLIP_PATIENT = "SYN0002"  # of the seed-0 CEUS-only cohort: one series of 5 clips


def label_python() -> Path:
    py = LABEL_VENV / "bin" / "python"
    if not (py.exists() and (LABEL_VENV / "bin" / "monailabel").exists()):
        pytest.skip(f"the label server's venv {LABEL_VENV} is absent: run scripts/setup_label.sh")
    return py


def label_env(tmp: Path) -> dict[str, str]:
    """What the `monailabel` launcher and the server need: the venv's bin first on PATH (the launcher runs
    `python` from PATH), and every cache/session folder inside ``tmp``."""
    env = dict(os.environ)
    env.update(PATH=f"{LABEL_VENV / 'bin'}:{env.get('PATH', '')}", MONAILABEL_PYEXE=str(LABEL_VENV / "bin" / "python"),
               MONAI_LABEL_SESSION_PATH=str(tmp / "sessions"), MONAI_LABEL_DICOMWEB_CACHE_PATH=str(tmp / "dicomweb"),
               MPLCONFIGDIR=str(tmp / "mpl"), TMPDIR=str(tmp / "tmp"), HCCRISK_LABEL_MODEL_DIR=str(tmp / "model"),
               PYTHONPATH=str(REPO),
               # the DICOMweb datastore lists (and keeps labels of) only series matching this filter; its
               # default is CT. MR: the whole-liver train task learns from the MR phases
               MONAI_LABEL_DICOMWEB_SEARCH_FILTER=json.dumps({"Modality": "MR"}))
    env.pop("VIRTUAL_ENV", None)
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    return env


@dataclass(frozen=True)
class LabelServer:
    url: str
    env: dict[str, str]
    python: Path
    cohort: Path
    log: Path


@pytest.fixture(scope="session")
def synthetic_study(tmp_path_factory, orthanc):  # noqa: F811
    """Synthetic patients stored in the test Orthanc (STOW-RS): PATIENT (CEUS + MRI) from ``cohort``, and
    MULTI_CLIP_PATIENT from a CEUS-only cohort beside it (``cohort.parent / "ceus"``)."""
    from hccrisk.dicom.scan import scan
    from hccrisk.pacs import connect
    from hccrisk.synth.cohort import generate_cohort

    root = tmp_path_factory.mktemp("label")
    cohort, ceus = root / "cohort", root / "ceus"
    generate_cohort(cohort, n_patients=1, seed=0, modality="both", workers=1, progress=False)
    generate_cohort(ceus, n_patients=2, seed=0, modality="ceus", workers=1, progress=False)
    files = [p for p in (cohort / "dicom").rglob("*") if p.is_file()]
    files += [i.path for s in scan(ceus / "dicom").by_patient()[MULTI_CLIP_PATIENT] for i in s.instances]
    connect(orthanc.dicomweb_url).store(files)
    return cohort


@pytest.fixture(scope="session")
def label_server(tmp_path_factory, orthanc, synthetic_study):  # noqa: F811
    py = label_python()
    tmp = tmp_path_factory.mktemp("label_server")
    env = label_env(tmp)
    port = free_port()
    log = tmp / "server.log"
    cmd = [str(LABEL_VENV / "bin" / "monailabel"), "start_server", "--app", str(APP), "--studies",
           orthanc.dicomweb_url, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"monailabel exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if requests.get(f"{url}/info/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"monailabel did not answer in 180 s:\n{log.read_text()[-4000:]}")
            time.sleep(1)
        yield LabelServer(url, env, py, synthetic_study, log)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
