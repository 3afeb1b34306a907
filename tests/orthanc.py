"""A real Orthanc for tests, shared by every test package that talks to a PACS.

Use it from a conftest.py::

    from tests.orthanc import orthanc, scp_port  # noqa: F401  (pytest fixtures)

``orthanc`` is session-scoped: one :class:`hccrisk.pacs.orthanc_server.OrthancServer` on 127.0.0.1
with free ports, a temporary storage folder, the DICOMweb plugin, ``StableAge`` 1 s, and the
modality ``HCCRISK`` at 127.0.0.1:``scp_port`` so C-MOVE can route to a test's storage SCP.
Tests that need an empty PACS delete what they stored (``clear_orthanc``). Skipped where Orthanc is
not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from hccrisk.pacs.orthanc_server import DICOMWEB_PLUGIN, ORTHANC_BINARY, OrthancServer, free_port


@pytest.fixture(scope="session")
def scp_port() -> int:
    """The port Orthanc's ``HCCRISK`` modality points at; start a StorageSCP there to receive."""
    return free_port()


@pytest.fixture(scope="session")
def orthanc(scp_port: int) -> OrthancServer:
    if not (Path(ORTHANC_BINARY).exists() and Path(DICOMWEB_PLUGIN).exists()):
        pytest.skip("Orthanc or its DICOMweb plugin is not installed (Debian orthanc, orthanc-dicomweb)")
    server = OrthancServer(scp_ae_title="HCCRISK", scp_port=scp_port, stable_age_s=1)
    server.start()
    yield server
    server.close()


def clear_orthanc(server: OrthancServer) -> None:
    """Delete every study in ``server`` (REST), so a test starts from an empty PACS."""
    for study in requests.get(f"{server.url}/studies", timeout=10).json():
        requests.delete(f"{server.url}/studies/{study}", timeout=10).raise_for_status()
