"""The storage SCP on its own (our DIMSE client as the sender): files land as sent; the callback
waits for the association to end and for the study to be quiet, then fires once with every file."""

from __future__ import annotations

import time

import pydicom

from hccrisk.pacs import NO_RETRY, connect
from hccrisk.pacs.scp import StorageSCP
from tests.pacs.studies import by_sop_uid, dataset_bytes


def test_two_associations_within_the_quiet_period_give_one_callback(mr_files, tmp_path):
    received = []
    with StorageSCP(tmp_path / "inbox", ae_title="RECEIVER", on_study=received.append,
                    stable_s=2.0) as scp:
        sender = connect(f"RECEIVER@127.0.0.1:{scp.port}", NO_RETRY, calling_ae_title="SENDER")
        sender.echo()
        sender.store(mr_files[:4])
        time.sleep(0.3)
        assert received == []  # association over, but the study is not quiet yet
        sender.store(mr_files[4:])
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.2)
    assert len(received) == 1
    study = received[0]
    assert study.calling_ae_title == "SENDER"
    assert study.study_uid == str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    sent, got = by_sop_uid(mr_files), by_sop_uid(list(study.files))
    assert sorted(got) == sorted(sent)
    assert all(dataset_bytes(got[u]) == dataset_bytes(sent[u]) for u in sent)
    assert not list((tmp_path / "inbox").rglob(".part-*"))


def test_stop_reports_a_study_still_in_its_quiet_period(mr_files, tmp_path):
    received = []
    scp = StorageSCP(tmp_path / "inbox", on_study=received.append, stable_s=60).start()
    connect(f"HCCRISK@127.0.0.1:{scp.port}", NO_RETRY).store(mr_files)
    time.sleep(0.3)
    assert received == []
    scp.stop()
    assert len(received) == 1 and len(received[0].files) == len(mr_files)
