"""Folders for the large module and session fixtures (synthetic cohorts, their ingests: 1-5 GB each).

pytest removes a passed test's ``tmp_path`` at once (``tmp_path_retention_policy = "failed"`` in
pyproject.toml), but a ``tmp_path_factory`` folder lives until the session ends. The suite's cohorts
would then pile up (~15 GB at the end of a run) on a disk that CI shares. ``scratch_folder`` gives such a
fixture its folder and removes it at the fixture's teardown, unless a test has failed by then (the folder
is kept for a look, as pytest keeps a failed test's ``tmp_path``) or the user named a folder to keep
(the fixtures' ``HCCRISK_*_DIR`` variables): that folder is never removed.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


@contextmanager
def scratch_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str,
                   keep_env: str | None = None, under: str = "") -> Iterator[Path]:
    """The folder of a fixture: ``$keep_env/under`` when that variable is set (kept), else a new
    ``tmp_path_factory`` folder ``name`` that is removed when the fixture ends and no test has failed."""
    if keep_env and keep_env in os.environ:
        yield Path(os.environ[keep_env]) / under
        return
    folder = tmp_path_factory.mktemp(name)
    try:
        yield folder
    finally:
        if request.session.testsfailed == 0:
            shutil.rmtree(folder, ignore_errors=True)
