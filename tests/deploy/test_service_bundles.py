"""The service's start-up check of its models: a site may serve CEUS only or MRI only, but not nothing.

No PACS is contacted here: the check runs in ``StudyService.__init__``, before anything is served.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from deploy.service import ServiceConfig, StudyService
from hccrisk.errors import HccriskError

REPO = Path(__file__).resolve().parents[2]


def mri_only_bundle(folder: Path) -> Path:
    """The repository's MRI bundle configs with a weights file (its content is read at the first study)."""
    shutil.copytree(REPO / "bundles" / "resnet_zhao2024" / "configs", folder / "configs")
    (folder / "models").mkdir()
    torch.save({}, folder / "models" / "model.pt")
    return folder


def config(tmp_path: Path, ceus: Path, mri: Path) -> ServiceConfig:
    return ServiceConfig(work=tmp_path / "work", bundle=ceus, orthanc="http://127.0.0.1:9", mri_bundle=mri)


def test_an_mri_only_site_starts_and_keys_studies_by_both_versions(tmp_path):
    no_ceus = tmp_path / "no_ceus"
    no_ceus.mkdir()
    service = StudyService(config(tmp_path, no_ceus, mri_only_bundle(tmp_path / "mri")))
    assert service.kinds == ["MRI"]
    # the analysis key changes when the MRI model's version does, though the CEUS model is absent
    assert service._model_version().startswith("-/")


def test_a_site_without_any_model_is_refused_naming_the_ceus_model(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HccriskError, match=r"model\.ts: the model bundle has no TorchScript model"):
        StudyService(config(tmp_path, empty, empty))
