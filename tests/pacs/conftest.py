"""Fixtures for the PACS tests: the real Orthanc (tests/orthanc.py) and small DICOM studies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.orthanc import orthanc, scp_port  # noqa: F401  (pytest fixtures)
from tests.pacs.studies import mr_study, synthetic_ceus_study


@pytest.fixture(scope="session")
def ceus_files(tmp_path_factory) -> list[Path]:
    """One synthetic CEUS study (hccrisk.synth, 1 patient): multi-frame US, Explicit VR LE."""
    return synthetic_ceus_study(tmp_path_factory.mktemp("ceus"))


@pytest.fixture
def mr_files(tmp_path) -> list[Path]:
    """A fresh tiny MR study (new UIDs each test): 3 slices uncompressed + 3 JPEG-LS + 2 RLE."""
    return mr_study(tmp_path / "mr")
