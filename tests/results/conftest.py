"""Synthetic source studies for the result-object tests (one CEUS and one MRI patient) and dciodvfy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hccrisk.synth.cohort import generate_cohort


def study_files(cohort: Path) -> list[Path]:
    return sorted(p for p in (cohort / "dicom").rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def ceus_files(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("results") / "ceus"
    generate_cohort(out, 1, seed=5, modality="ceus", workers=1, progress=False)
    return study_files(out)


@pytest.fixture(scope="session")
def mri_files(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("results") / "mri"
    generate_cohort(out, 1, seed=5, modality="mri", workers=1, progress=False)
    return study_files(out)


def dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) of dicom3tools' validator; the warnings are printed (pytest -s shows them)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    lines = (run.stdout + run.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    print(f"dciodvfy {path.name}: {len(errors)} errors, {len(warnings)} warnings", *sorted(set(warnings)), sep="\n  ")
    return errors, warnings
