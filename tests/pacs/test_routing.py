"""Studies reach us from the PACS: C-MOVE to our storage SCP (callback once per complete study), and
Orthanc's stable-study change feed as the alternative trigger."""

from __future__ import annotations

import threading
import time

import pydicom

from hccrisk.pacs import RetryPolicy, connect
from hccrisk.pacs.orthanc_rest import OrthancRest
from hccrisk.pacs.scp import StorageSCP
from tests.pacs.studies import by_sop_uid, dataset_bytes

FAST = RetryPolicy(attempts=2, initial_delay_s=0.1)


def _wait_for(predicate, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_orthanc_routes_a_study_to_our_scp_and_the_callback_fires_once(orthanc, scp_port, mr_files,
                                                                        tmp_path):
    dimse = connect(orthanc.dimse_address, FAST)
    dimse.store(mr_files)
    study_uid = str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    received = []
    with StorageSCP(tmp_path / "inbox", ae_title="HCCRISK", port=scp_port, on_study=received.append,
                    stable_s=0.5):
        # Orthanc pushes the study on its own (a REST job), as a routing rule in a hospital would
        OrthancRest(orthanc.url, FAST).send_study(study_uid, "hccrisk")
        assert _wait_for(lambda: len(received) == 1)
        time.sleep(1.0)  # a second callback would come within stable_s
    assert len(received) == 1
    study = received[0]
    assert study.study_uid == study_uid and study.calling_ae_title == orthanc.ae_title
    assert study.folder == tmp_path / "inbox" / study_uid
    sent, got = by_sop_uid(mr_files), by_sop_uid(list(study.files))
    assert sorted(got) == sorted(sent)
    assert all(dataset_bytes(got[uid]) == dataset_bytes(sent[uid]) for uid in sent)


def test_c_move_retrieve_into_our_scp(orthanc, scp_port, mr_files, tmp_path):
    dimse = connect(orthanc.dimse_address, FAST)
    dimse.store(mr_files)
    study_uid = str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    received = []
    with StorageSCP(tmp_path / "inbox", port=scp_port, on_study=received.append, stable_s=0.2) as scp:
        paths = dimse.retrieve(study_uid, tmp_path / "unused", move_to=scp)
        assert _wait_for(lambda: len(received) == 1)
    assert sorted(by_sop_uid(paths)) == sorted(by_sop_uid(mr_files))
    assert len(received) == 1 and len(received[0].files) == len(mr_files)


def test_stable_study_change_feed(orthanc, mr_files):
    rest = OrthancRest(orthanc.url, FAST)
    since = rest.last_change()
    connect(orthanc.dicomweb_url, FAST).store(mr_files)
    study_uid = str(pydicom.dcmread(mr_files[0]).StudyInstanceUID)
    seen: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=rest.watch_stable_studies,
                               args=(seen.append, stop, since, 0.2), daemon=True)
    watcher.start()
    try:
        assert _wait_for(lambda: study_uid in seen, timeout_s=20)  # StableAge is 1 s in the fixture
    finally:
        stop.set()
        watcher.join(5)
    assert seen.count(study_uid) == 1
