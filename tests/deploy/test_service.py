"""The service next to a real Orthanc (`python -m deploy serve` in the deploy venv, as hospital IT runs it):
studies sent with dcmtk's storescu (the first with the MONAI Label app's per-frame box SR, the others with
one box, which the app tracks); SR and SCs fetched back over DICOMweb and checked (dciodvfy, highdicom,
the research-path risk); the same study twice gives one SR; a corrupt study is refused and the next one
served; results made while Orthanc is down wait in the outbox and are stored when it is back.

One Orthanc and one service for the module, the scenarios in order (each waits for the service)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import pydicom
import pytest
import requests
from pydicom.uid import JPEGBaseline8Bit, JPEGLSLossless, JPEGLSNearLossless, RLELossless

from hccrisk.pacs import connect
from hccrisk.pacs.orthanc_server import DICOMWEB_PLUGIN, ORTHANC_BINARY, OrthancServer, free_port
from hccrisk.results.sr import read_risk_sr
from tests.deploy.conftest import (RUN, deploy_env, make_study, needs_deploy_venv, research_path_risk,
                                   research_path_signature)
from tests.results.conftest import dciodvfy

pytestmark = [needs_deploy_venv(), pytest.mark.slow,
              pytest.mark.skipif(not (Path(ORTHANC_BINARY).exists() and Path(DICOMWEB_PLUGIN).exists())
                                 or shutil.which("storescu") is None,
                                 reason="needs Orthanc + its DICOMweb plugin and dcmtk (Debian orthanc, "
                                        "orthanc-dicomweb, dcmtk)")]


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = 120.0, log: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text()[-4000:] if log is not None else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{tail}")


@pytest.fixture(scope="module")
def pacs(tmp_path_factory) -> OrthancServer:
    server = OrthancServer(scp_ae_title="HCCRISK", scp_port=free_port(), stable_age_s=1)  # own temp storage
    server.start()
    yield server
    server.close()


class Service:
    def __init__(self, process: subprocess.Popen, work: Path, log: Path, scp: str):
        self.process, self.work, self.log, self.scp = process, work, log, scp

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def service(pacs, bundle, cohort, tmp_path_factory) -> Service:
    work = tmp_path_factory.mktemp("service")
    log = work.parent / f"{work.name}.log"
    scp = f"HCCRISK@127.0.0.1:{pacs.scp[2]}"  # where Orthanc's modality `hccrisk` points
    command = [str(RUN), "-m", "deploy", "serve", "--work", str(work), "--bundle", str(bundle),
               "--orthanc", pacs.url, "--listen", scp, "--store-to", pacs.dicomweb_url, "--store-to", pacs.dimse_address,
               "--clinical", str(cohort / "clinical.csv"), "--poll", "0.5", "--stable", "1", "--flush", "1",
               "--retries", "2", "--retry-delay", "0.5"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=deploy_env())
    running = Service(process, work, log, scp)
    try:
        wait_for(lambda: "serving:" in running.text() or process.poll() is not None, "the service to start", log=log)
        assert process.poll() is None, running.text()[-4000:]
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


#: storescu proposes uncompressed transfer syntaxes plus at most one compressed one, named by a flag
STORESCU_FLAG = {JPEGBaseline8Bit: ["-xy"], JPEGLSLossless: ["-xt"], JPEGLSNearLossless: ["-xu"], RLELossless: ["-xr"]}


def storescu(folder: Path, address: str) -> None:
    """Send the DICOM files of ``folder`` as a modality would: dcmtk's storescu, one association per
    transfer syntax (-R: only the SOP classes present; the flag proposing that compressed syntax)."""
    ae, _, hostport = address.partition("@")
    host, port = hostport.split(":")
    by_syntax: dict[str, list[str]] = {}
    for p in sorted(folder.glob("*.dcm")):
        by_syntax.setdefault(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID, []).append(str(p))
    for syntax, files in by_syntax.items():
        run = subprocess.run(["storescu", "-R", *STORESCU_FLAG.get(syntax, []), "-aec", ae, "-aet", "MODALITY", host,
                              port, *files], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0 and "E:" not in run.stderr, run.stderr


def study_uid(folder: Path) -> str:
    return str(pydicom.dcmread(folder / "roi_sr.dcm", stop_before_pixels=True).StudyInstanceUID)


def result_series(pacs: OrthancServer, uid: str) -> dict[str, dict]:
    """Our result series in the PACS by kind ('SR' / 'SC'), found over QIDO-RS."""
    found = {}
    for s in connect(pacs.dicomweb_url).find_series(uid):
        description = s.get("SeriesDescription") or ""
        if description.startswith("hccrisk risk report"):
            found["SR"] = s
        elif description.startswith("hccrisk heatmap"):
            found["SC"] = s
    return found


def results_stored(pacs: OrthancServer, uid: str) -> dict | None:
    found = result_series(pacs, uid)
    return found if found.get("SR") and (found.get("SC") or {}).get("NumberOfSeriesRelatedInstances") == 3 else None


def test_study_from_storescu_gets_sr_and_sc_back(pacs, service, cohort, study, bundle, nomogram_model, tmp_path):
    sent = make_study(cohort, "SYN0001", tmp_path / "SYN0001")
    storescu(sent, pacs.dimse_address)
    uid = study_uid(sent)
    series = wait_for(lambda: results_stored(pacs, uid), "the SR and 3 SCs in Orthanc", log=service.log)
    fetched = []
    for kind in ("SR", "SC"):  # WADO-RS, as a viewer would
        fetched += connect(pacs.dicomweb_url).retrieve(uid, tmp_path / "back", series[kind]["SeriesInstanceUID"])
    srs = [p for p in fetched if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR"]
    assert len(srs) == 1 and len(fetched) == 4
    for path in fetched:
        errors, _ = dciodvfy(path)
        assert errors == [], path.name
    result = read_risk_sr(srs[0])  # highdicom reads the SR
    signature = research_path_signature(sent, bundle, tmp_path / "work")
    assert abs(result.imaging_signature - signature) <= 1e-6
    risk = research_path_risk(signature, cohort / "clinical.csv", "SYN0001", nomogram_model)
    assert abs(result.risk - risk) <= 1e-6


def test_same_study_twice_gives_one_sr(pacs, service, cohort, tmp_path):
    sent = make_study(cohort, "SYN0001", tmp_path / "SYN0001", one_box=True)  # same clips; a new box SR instance
    uid = study_uid(sent)
    wait_for(lambda: results_stored(pacs, uid), "the first SR", log=service.log)
    before = service.text().count("analysed in")
    storescu(sent, pacs.dimse_address)
    # the study changed (a new box SR): the service analyses it again and stores the same UIDs
    wait_for(lambda: service.text().count("analysed in") > before, "the second analysis", log=service.log)
    wait_for(lambda: not list((service.work / "outbox").glob("*/item.json")), "the outbox to empty", log=service.log)
    time.sleep(3)  # the store-back makes Orthanc report the study stable again: it must not start a third run
    assert service.text().count("analysed in") == before + 1
    series = result_series(pacs, uid)
    assert series["SR"]["NumberOfSeriesRelatedInstances"] == 1
    assert series["SC"]["NumberOfSeriesRelatedInstances"] == 3


def test_corrupt_study_is_refused_and_the_next_is_served(pacs, service, cohort, tmp_path):
    bad = make_study(cohort, "SYN0004", tmp_path / "SYN0004", one_box=True)
    clip = max(bad.glob("*.dcm"), key=lambda p: p.stat().st_size)
    ds = pydicom.dcmread(clip)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()  # so the file stays well-formed for storescu with its pixel data cut
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 4 * 2]  # a transfer cut short: half the frames' bytes
    ds.save_as(clip)
    good = make_study(cohort, "SYN0002", tmp_path / "SYN0002", one_box=True)  # the app tracks its box
    storescu(bad, pacs.dimse_address)
    storescu(good, pacs.dimse_address)
    wait_for(lambda: results_stored(pacs, study_uid(good)), "the next study's results", log=service.log)
    failures = [json.loads(p.read_text()) for p in (service.work / "failed").glob("*.json")]
    (failure,) = [f for f in failures if f["study_uid"] == study_uid(bad)]
    assert f"{ds.SOPInstanceUID}.dcm" in failure["error"] and "pixel data" in failure["error"]  # names the instance
    assert "NOT analysed" in service.text()
    assert result_series(pacs, study_uid(bad)) == {}
    assert service.process.poll() is None


def test_results_wait_in_the_outbox_while_the_pacs_is_down(pacs, service, cohort, tmp_path):
    sent = make_study(cohort, "SYN0003", tmp_path / "SYN0003", one_box=True)
    pacs.stop()
    try:
        storescu(sent, service.scp)  # the modality (or a router) sends to the service's SCP directly
        item = wait_for(lambda: [json.loads(p.read_text()) for p in (service.work / "outbox").glob("*/item.json")
                                 if json.loads(p.read_text())["tries"] >= 1],
                        "a failed store-back kept in the outbox", log=service.log)
        assert "refused" in item[0]["last_error"] or "connect" in item[0]["last_error"]
    finally:
        pacs.start()
    wait_for(lambda: results_stored(pacs, study_uid(sent)), "the results after Orthanc is back", log=service.log)
    wait_for(lambda: not list((service.work / "outbox").glob("*/item.json")), "the outbox to empty", log=service.log)
    assert requests.get(f"{pacs.url}/system", timeout=10).ok
