"""The Orthanc manager: the written configuration keeps Orthanc local and routable to us, and the
by-hand command (`python -m hccrisk.pacs.orthanc_server`) starts a working PACS and stops it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from hccrisk.errors import InputError
from hccrisk.pacs import NO_RETRY, PacsError, connect
from hccrisk.pacs.orthanc_server import OrthancServer, free_port


def test_written_config_is_local_with_dicomweb_and_our_modality(orthanc, scp_port):
    config = json.loads(orthanc.config_path.read_text())
    assert config["RemoteAccessAllowed"] is False
    assert (config["HttpPort"], config["DicomPort"]) == (orthanc.http_port, orthanc.dicom_port)
    assert config["DicomWeb"]["Enable"] is True and config["Plugins"][0].endswith("libOrthancDicomWeb.so")
    assert config["StorageDirectory"].startswith(str(orthanc.storage))
    entry = config["DicomModalities"]["hccrisk"]
    assert (entry["AET"], entry["Host"], entry["Port"]) == ("HCCRISK", "127.0.0.1", scp_port)
    assert config["DicomAlwaysAllowFind"] is False  # only known modalities may query


def test_bad_template_is_an_input_error(tmp_path):
    bad = tmp_path / "orthanc.json"
    bad.write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        OrthancServer(tmp_path / "s", template=bad).config()
    with pytest.raises(InputError, match="template not found"):
        OrthancServer(tmp_path / "s", template=tmp_path / "missing.json").config()


def test_by_hand_command_runs_until_interrupted(tmp_path):
    http, dicom = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hccrisk.pacs.orthanc_server", "--storage", str(tmp_path / "pacs"),
         "--http-port", str(http), "--dicom-port", str(dicom)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Ctrl-C" not in "".join(lines):
            lines.append(process.stdout.readline())
        assert f"ORTHANC@127.0.0.1:{dicom}" in "".join(lines)
        connect(f"ORTHANC@127.0.0.1:{dicom}", NO_RETRY).echo()
        connect(f"http://127.0.0.1:{http}/dicom-web", NO_RETRY).echo()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", dicom), timeout=2)
    assert (tmp_path / "pacs" / "orthanc.json").is_file()  # storage kept for the next start


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        server = OrthancServer(tmp_path / "s", http_port=free_port(), dicom_port=taken.getsockname()[1])
        with pytest.raises(PacsError, match="could not bind its ports"):
            server.start()
        assert not server.running


def test_one_storage_folder_one_orthanc(orthanc):
    second = OrthancServer(orthanc.storage, http_port=free_port(), dicom_port=free_port())
    with pytest.raises(PacsError, match="in use by another Orthanc"):
        second.start()
    connect(orthanc.dimse_address, NO_RETRY).echo()  # the first one is unharmed
