"""Bad addresses, servers that are not there, services refused, bad files: clear errors that name
the server or file and the problem; permanent problems are not retried."""

from __future__ import annotations

import time

import pytest

from hccrisk.errors import InputError
from hccrisk.pacs import NO_RETRY, Outbox, PacsError, RetryPolicy, connect, with_retries
from hccrisk.pacs.address import DicomWebAddress, DimseAddress, parse_address
from hccrisk.pacs.orthanc_server import free_port


@pytest.mark.parametrize("text, expected", [
    ("http://127.0.0.1:8042/dicom-web/", DicomWebAddress("http://127.0.0.1:8042/dicom-web")),
    ("ORTHANC@pacs.example.org:104", DimseAddress("ORTHANC", "pacs.example.org", 104)),
])
def test_addresses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text, problem", [
    ("pacs.example.org", "not a PACS address"), ("ORTHANC@host", "not a PACS address"),
    ("ORTHANC@host:70000", "outside 1-65535"), ("A_VERY_LONG_AE_TITLE@host:104", "not a PACS address"),
    ("http://:8042/dicom-web", "no host"), ("http://host:port/dicom-web", "bad port"),
])
def test_malformed_addresses_are_input_errors(text, problem):
    with pytest.raises(InputError, match=problem) as info:
        connect(text)
    assert info.value.where == text


def test_backoff_delays_double_up_to_the_cap_and_give_up():
    policy = RetryPolicy(attempts=6, initial_delay_s=0.5, factor=2.0, max_delay_s=3.0)
    assert policy.delays() == [0.5, 1.0, 2.0, 3.0, 3.0]
    slept, tries = [], []

    def down():
        tries.append(1)
        raise PacsError("X@h:1", "connection refused", retryable=True)

    with pytest.raises(PacsError, match="gave up after 6 tries"):
        with_retries(down, policy, "store", sleep=slept.append)
    assert (len(tries), slept) == (6, policy.delays())

    def rejected():
        tries.append(1)
        raise PacsError("X@h:1", "association rejected (permanent)", retryable=False)

    tries.clear()
    with pytest.raises(PacsError, match="permanent"):
        with_retries(rejected, policy, "store", sleep=slept.append)
    assert len(tries) == 1


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_nothing_listening_is_connection_refused_naming_the_server(protocol):
    port = free_port()
    address = f"http://127.0.0.1:{port}/dicom-web" if protocol == "dicomweb" else f"PACS@127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(PacsError) as info:
        connect(address, RetryPolicy(attempts=3, initial_delay_s=0.1)).echo()
    assert info.value.server == address and "connection refused" in info.value.problem
    assert "gave up after 3 tries" in info.value.problem and info.value.retryable
    assert time.monotonic() - start >= 0.3  # 0.1 + 0.2 s of back-off


def test_unknown_host_is_not_retried():
    with pytest.raises(PacsError, match="unknown host") as info:
        connect("PACS@no-such-host.invalid:104", RetryPolicy(attempts=5)).echo()
    assert not info.value.retryable


def test_wrong_dicomweb_path_names_the_http_status(orthanc):
    with pytest.raises(PacsError, match="HTTP 404") as info:
        connect(f"{orthanc.url}/no-such-root", RetryPolicy(attempts=5)).find_studies()
    assert info.value.server == f"{orthanc.url}/no-such-root" and not info.value.retryable


def test_query_from_an_unknown_calling_ae_is_explained(orthanc):
    client = connect(orthanc.dimse_address, NO_RETRY, calling_ae_title="STRANGER")
    client.echo()  # echo is allowed for anyone
    with pytest.raises(PacsError, match="'STRANGER'"):
        client.find_studies()


def test_missing_study_is_an_error_not_an_empty_folder(orthanc, tmp_path):
    for address in (orthanc.dicomweb_url, orthanc.dimse_address):
        with pytest.raises(PacsError, match="1.2.3.4.5"):
            connect(address, NO_RETRY).retrieve("1.2.3.4.5", tmp_path)


def test_non_dicom_file_is_an_input_error_naming_it(orthanc, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not DICOM")
    for address in (orthanc.dicomweb_url, orthanc.dimse_address):
        with pytest.raises(InputError, match="not a readable DICOM file") as info:
            connect(address, NO_RETRY).store([bad])
        assert info.value.where == str(bad)
    with pytest.raises(InputError, match="not a file"):
        Outbox(tmp_path / "outbox").put([tmp_path / "missing.dcm"], orthanc.dimse_address)
    assert not (tmp_path / "outbox").exists() or Outbox(tmp_path / "outbox").items() == []


def test_dicomweb_credentials_from_the_environment(tmp_path, monkeypatch):
    import json

    from hccrisk.pacs.orthanc_server import TEMPLATE, OrthancServer

    config = json.loads(TEMPLATE.read_text())
    config.update(AuthenticationEnabled=True, RegisteredUsers={"alice": "s3cret"})
    template = tmp_path / "orthanc-auth.json"
    template.write_text(json.dumps(config))
    with OrthancServer(tmp_path / "pacs", template=template) as server:
        monkeypatch.delenv("HCCRISK_DICOMWEB_TOKEN", raising=False)
        monkeypatch.delenv("HCCRISK_DICOMWEB_USER", raising=False)
        with pytest.raises(PacsError, match="HTTP 401.*HCCRISK_DICOMWEB_USER") as info:
            connect(server.dicomweb_url, RetryPolicy(attempts=3)).echo()
        assert not info.value.retryable
        monkeypatch.setenv("HCCRISK_DICOMWEB_USER", "alice")
        monkeypatch.setenv("HCCRISK_DICOMWEB_PASSWORD", "s3cret")
        connect(server.dicomweb_url, NO_RETRY).echo()
