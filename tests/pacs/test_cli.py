"""``hccrisk pacs echo|send|fetch|flush`` against the real Orthanc, as a user types them."""

from __future__ import annotations

from pathlib import Path

import pydicom
from typer.testing import CliRunner

from hccrisk.cli import _register, app
from hccrisk.pacs.orthanc_server import free_port
from tests.pacs.studies import by_sop_uid, dataset_bytes

_register()
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["pacs", *args])


def test_echo_send_fetch_over_both_protocols(orthanc, mr_files, tmp_path):
    study_uid = str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    for address in (orthanc.dimse_address, orthanc.dicomweb_url):
        result = _run("echo", address)
        assert result.exit_code == 0 and "OK" in result.output
    result = _run("send", str(mr_files[0].parent), "--to", orthanc.dimse_address)
    assert result.exit_code == 0, result.output
    assert f"stored {len(mr_files)} file(s)" in result.output
    for name, address in (("web", orthanc.dicomweb_url), ("dimse", orthanc.dimse_address)):
        result = _run("fetch", study_uid, "--from", address, "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        back = by_sop_uid(sorted((tmp_path / name / study_uid).rglob("*.dcm")))
        sent = by_sop_uid(mr_files)
        assert sorted(back) == sorted(sent)
        assert all(dataset_bytes(back[u]) == dataset_bytes(sent[u]) for u in sent)


def test_send_to_a_pacs_that_is_down_keeps_the_files_for_flush(orthanc, mr_files, tmp_path):
    down = f"HCCRISK@127.0.0.1:{free_port()}"
    outbox = tmp_path / "outbox"
    result = _run("send", *map(str, mr_files), "--to", down, "--outbox", str(outbox),
                  "--retries", "1", "--retry-delay", "0.05")
    assert result.exit_code == 1
    assert down in result.output and "connection refused" in result.output
    assert "hccrisk pacs flush" in result.output
    assert len(list(outbox.glob("*/files/*"))) == len(mr_files)
    result = _run("flush", "--outbox", str(outbox), "--retries", "0")
    assert result.exit_code == 1 and "1 still queued" in result.output


def _read_until(process, text: str) -> str:
    """The first output line containing ``text`` (log lines come first); '' at end of output."""
    for line in process.stdout:
        if text in line:
            return line
    return ""


def test_bad_address_exit_code_2(tmp_path):
    result = _run("fetch", "1.2.3", "--from", "pacs-without-port", "--out", str(tmp_path))
    assert result.exit_code == 2 and "pacs-without-port" in result.output


def test_listen_receives_what_orthanc_routes(orthanc, scp_port, mr_files, tmp_path):
    import signal
    import subprocess
    import sys

    from hccrisk.pacs import RetryPolicy, connect
    from hccrisk.pacs.orthanc_rest import OrthancRest

    connect(orthanc.dimse_address).store(mr_files)
    study_uid = str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    hccrisk = str(Path(sys.executable).parent / "hccrisk")
    process = subprocess.Popen([hccrisk, "pacs", "listen", "--out",
                                str(tmp_path / "inbox"), "--port", str(scp_port), "--stable", "0.2"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "listening as HCCRISK@127.0.0.1" in _read_until(process, "listening as")
        OrthancRest(orthanc.url, RetryPolicy(3, 0.2)).send_study(study_uid)
        line = _read_until(process, f"study {study_uid}")
        assert f"study {study_uid}: {len(mr_files)} file(s) from {orthanc.ae_title}" in line
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    assert len(list((tmp_path / "inbox" / study_uid).rglob("*.dcm"))) == len(mr_files)
