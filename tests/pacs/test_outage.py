"""The PACS goes down: stores are retried with back-off, kept in the outbox, and delivered after
Orthanc comes back; nothing is lost. (These tests stop and restart the session's Orthanc.)"""

from __future__ import annotations

import logging
import threading
import time

import pydicom
import pytest

from hccrisk.pacs import Outbox, PacsError, RetryPolicy, connect
from tests.pacs.studies import by_sop_uid, dataset_bytes


@pytest.fixture
def orthanc_down(orthanc):
    orthanc.stop()
    try:
        yield orthanc
    finally:
        orthanc.start()  # the next test gets a running PACS whatever happened


def _address(orthanc, protocol: str) -> str:
    return orthanc.dicomweb_url if protocol == "dicomweb" else orthanc.dimse_address


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_store_waits_for_the_pacs_to_come_back(orthanc_down, protocol, mr_files, tmp_path, caplog):
    policy = RetryPolicy(attempts=8, initial_delay_s=0.25, factor=2.0, max_delay_s=2.0)
    outbox = Outbox(tmp_path / "outbox", policy)
    restart = threading.Timer(1.0, orthanc_down.start)
    restart.start()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="hccrisk.pacs.retry"):
        outbox.send(mr_files, _address(orthanc_down, protocol))
    restart.join()
    assert time.monotonic() - start >= 1.0
    retries = [r for r in caplog.records if r.name == "hccrisk.pacs.retry"]
    assert retries, "the first tries must have failed while Orthanc was down"
    assert "refused" in retries[0].getMessage() or "connect" in retries[0].getMessage()
    assert outbox.items() == []  # delivered, so removed

    got = connect(orthanc_down.dicomweb_url).retrieve(
        str(pydicom.dcmread(mr_files[0]).StudyInstanceUID), tmp_path / "back")
    sent, back = by_sop_uid(mr_files), by_sop_uid(got)
    assert sorted(back) == sorted(sent)
    assert all(dataset_bytes(back[uid]) == dataset_bytes(sent[uid]) for uid in sent)


def test_outbox_keeps_results_until_a_later_flush(orthanc_down, mr_files, tmp_path):
    policy = RetryPolicy(attempts=3, initial_delay_s=0.05)
    outbox = Outbox(tmp_path / "outbox", policy)
    with pytest.raises(PacsError) as info:
        outbox.send(mr_files, orthanc_down.dimse_address)
    assert orthanc_down.dimse_address in str(info.value)
    assert "connection refused" in str(info.value) and "gave up after 3 tries" in str(info.value)
    [item] = outbox.items()
    assert item.tries == 1 and "connection refused" in item.last_error
    assert [f.read_bytes() for f in item.files] == [f.read_bytes() for f in mr_files]

    assert outbox.flush()[0] == 0 and len(outbox.items()) == 1  # still down: still kept

    orthanc_down.start()
    delivered, errors = outbox.flush()
    assert (delivered, errors, outbox.items()) == (1, [], [])
    study_uid = str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    [study] = connect(orthanc_down.dicomweb_url).find_studies(StudyInstanceUID=study_uid)
    assert study["NumberOfStudyRelatedInstances"] == len(mr_files)
