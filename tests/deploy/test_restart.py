"""The service stopped and started again while its results wait for the PACS (a real Orthanc, the service as
`deploy/run.sh -m deploy serve`): nothing is lost, nothing is stored twice, nothing is analysed twice.

Orthanc down; a study sent to the service's SCP; its results fail to store and wait in the outbox; the
service is stopped (SIGTERM) and started again on the same work folder while Orthanc is still down; Orthanc
comes back: the SR and the 3 SCs arrive exactly once (one SR instance, the UID of the results kept on
disk), the study is not analysed again, and the results' own arrival in Orthanc (a new stable study there)
is not taken for a study to analyse. The same files sent again after the restart are not analysed again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pydicom
import requests

from hccrisk.pacs.orthanc_server import OrthancServer, free_port
from tests.deploy.conftest import RUN, deploy_env, make_study
from tests.deploy.test_service import pytestmark as service_marks  # deploy venv, Orthanc + DICOMweb, dcmtk
from tests.deploy.test_service import result_series, results_stored, storescu, study_uid, wait_for

pytestmark = service_marks


def outbox_items(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((work / "outbox").glob("*/item.json"))]


class Service:
    """One `deploy serve` process on ``work``, its log appended to ``log``."""

    def __init__(self, command: list[str], log: Path):
        self.log = log
        start = log.stat().st_size if log.exists() else 0
        with open(log, "a") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=deploy_env())
        self.text = lambda: log.read_text(errors="replace")[start:]  # this run's lines only
        wait_for(lambda: "serving:" in self.text() or self.process.poll() is not None, "the service to start", log=log)
        assert self.process.poll() is None, self.text()[-4000:]

    def stop(self) -> None:
        self.process.terminate()  # SIGTERM, as systemd or docker stop
        assert self.process.wait(timeout=60) == 0, self.text()[-4000:]


def test_results_survive_a_service_restart_while_the_pacs_is_down(bundle, cohort, tmp_path):
    pacs = OrthancServer(scp_ae_title="HCCRISK", scp_port=free_port(), stable_age_s=1)
    work, log = tmp_path / "work", tmp_path / "service.log"
    scp = f"HCCRISK@127.0.0.1:{pacs.scp[2]}"
    pacs.start()
    command = [str(RUN), "-m", "deploy", "serve", "--work", str(work), "--bundle", str(bundle), "--orthanc", pacs.url,
               "--listen", scp, "--store-to", pacs.dicomweb_url, "--store-to", pacs.dimse_address,
               "--clinical", str(cohort / "clinical.csv"), "--poll", "0.5", "--stable", "1", "--flush", "1",
               "--retries", "1", "--retry-delay", "0.2"]
    first = second = None
    try:
        first = Service(command, log)
        study = make_study(cohort, "SYN0002", tmp_path / "SYN0002", one_box=True)  # the app tracks this one
        pacs.stop()
        storescu(study, scp)
        wait_for(lambda: len([i for i in outbox_items(work) if i["tries"] >= 1]) == 2,
                 "both deliveries (STOW-RS, C-STORE) failed and kept", log=log)
        first.stop()
        (kept,) = (work / "results").iterdir()
        sr_uid = next(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in kept.glob("SR_*.dcm"))
        assert len(outbox_items(work)) == 2 and "analysed in" in first.text()

        second = Service(command, log)  # Orthanc still down: it starts, retries, keeps the items
        wait_for(lambda: min(i["tries"] for i in outbox_items(work)) >= 2, "a failed delivery after the restart",
                 log=log)
        pacs.start()
        uid = study_uid(study)
        series = wait_for(lambda: results_stored(pacs, uid), "the results after Orthanc is back", log=log)
        wait_for(lambda: not outbox_items(work), "the outbox to empty", log=log)
        # Orthanc calls the study (our results only: the images went to our SCP) stable: nothing to analyse
        wait_for(lambda: "only our results in it" in second.text(), "the results' stable study to be seen", log=log)
        assert series["SR"]["NumberOfSeriesRelatedInstances"] == 1
        assert series["SC"]["NumberOfSeriesRelatedInstances"] == 3
        assert sr_instances(pacs, uid, series["SR"]["SeriesInstanceUID"]) == [sr_uid]  # the result kept on disk
        storescu(study, scp)  # the same files again: the service remembers them across the restart
        wait_for(lambda: "already analysed" in second.text(), "the re-sent study to be recognised", log=log)
        assert "analysed in" not in second.text().replace("already analysed", "")
        assert "NOT analysed" not in log.read_text() and not list((work / "failed").glob("*.json"))
        assert result_series(pacs, uid)["SR"]["NumberOfSeriesRelatedInstances"] == 1
        second.stop()
    finally:
        for service in (first, second):
            if service is not None and service.process.poll() is None:
                service.process.kill()
        pacs.close()


def sr_instances(pacs: OrthancServer, study: str, series: str) -> list[str]:
    """SOP Instance UIDs of a series in the PACS (QIDO-RS)."""
    reply = requests.get(f"{pacs.dicomweb_url}/studies/{study}/series/{series}/instances", timeout=30)
    reply.raise_for_status()
    return [i["00080018"]["Value"][0] for i in reply.json()]
