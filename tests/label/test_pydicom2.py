"""hccrisk's US decoding under pydicom 2 (the label server's .venv-label): the same frames as pydicom 3.

Each vendor of the synthetic generator (A: JPEG baseline YBR_FULL_422 RGB, dual display; B: uncompressed
MONOCHROME2, multi-clip; C: JPEG-LS near-lossless, dual display) is ingested to the 2 fps timeline in
both venvs, and the arrays must be equal.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import select_ceus
from hccrisk.synth.cohort import generate_cohort

from .conftest import REPO, label_env, label_python

INGEST = """
import sys, pydicom
from pathlib import Path
from hccrisk.preprocess.ceus import ingest_ceus
out = Path(sys.argv[1])
for line in Path(sys.argv[2]).read_text().splitlines():
    patient, *paths = line.split("\\t")
    ingest_ceus([Path(p) for p in paths], out / patient)
print(pydicom.__version__)
"""


def _ingest(python: Path, out: Path, clips: Path, env: dict | None = None) -> str:
    done = subprocess.run([str(python), "-c", INGEST, str(out), str(clips)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_ceus_ingest_under_pydicom2_equals_pydicom3(tmp_path):
    label_py = label_python()
    cohort = tmp_path / "cohort"
    generate_cohort(cohort, n_patients=3, seed=0, modality="ceus", workers=1, progress=False)  # vendors A, B, C
    lines = []
    for patient, series in sorted(scan(cohort / "dicom").by_patient().items()):
        chosen, _ = select_ceus(series)
        lines.append("\t".join([patient, *(str(i.path) for s in chosen for i in s.instances if i.n_frames > 1)]))
    clips = tmp_path / "clips.tsv"
    clips.write_text("\n".join(lines))

    import sys
    assert _ingest(Path(sys.executable), tmp_path / "p3", clips).startswith("3.")
    assert _ingest(label_py, tmp_path / "p2", clips, env=label_env(tmp_path / "env")).startswith("2.")
    for line in lines:
        patient = line.split("\t")[0]
        a, b = np.load(tmp_path / "p3" / patient / "ceus.npz"), np.load(tmp_path / "p2" / patient / "ceus.npz")
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{patient} {key}")


@pytest.mark.parametrize("module", ["hccrisk.dicom.us", "hccrisk.roi.sr", "hccrisk.roi.io", "hccrisk.preprocess.ceus"])
def test_label_server_modules_import_under_pydicom2(module, tmp_path):
    done = subprocess.run([str(label_python()), "-c", f"import {module}"], env=label_env(tmp_path), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
