"""The hccrisk service next to a PACS: studies in (Orthanc's stable-study feed and/or our storage SCP),
the app run on each, the risk SR and heatmap SCs stored back (STOW-RS and/or C-STORE) through an on-disk
outbox with retries, so nothing is lost while the PACS is down.

    python -m deploy serve --work /var/lib/hccrisk --orthanc http://127.0.0.1:8042 \\
        --clinical /srv/hccrisk/clinical.csv [--listen HCCRISK@0.0.0.0:11112] [--store-to ADDRESS ...]

Work folder: ``state.json`` (the change-feed position and, per study, what was analysed), ``inbox/``
(what the SCP receives), ``studies/`` (received studies until analysed; a failed one stays, so instances
arriving later complete it), ``fetch/`` (polled studies while analysed), ``results/<study>/`` (the last results),
``outbox/`` (results not yet stored), ``failed/<study>.json`` (why a study was not analysed).

One study at a time, on the main thread (the SDK graph runs in this process; the networks stay loaded).
A study is analysed again only when its input series change: the key is the bundle's version and the
(series UID, number of instances) of every series that is not one of our own results, so the results we
store back (which make Orthanc report the study stable again) do not start a new analysis. The results'
UIDs are stable (same study, same model -> same UIDs): storing them twice keeps one SR in the PACS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue

import pydicom

from hccrisk.errors import HccriskError, InputError
from hccrisk.log import configure, get_logger
from hccrisk.pacs import Outbox, PacsError, RetryPolicy, connect
from hccrisk.pacs.address import DimseAddress, parse_address
from hccrisk.pacs.orthanc_rest import OrthancRest
from hccrisk.pacs.scp import ReceivedStudy, StorageSCP
from hccrisk.results import is_result_series

from deploy import DEFAULT_BUNDLE

log = get_logger("deploy.service")


@dataclass
class ServiceConfig:
    """What ``python -m deploy serve`` is told (see :func:`main` for the options)."""

    work: Path
    bundle: Path | None = None  # the CEUS model bundle
    orthanc: str | None = None  # REST root, e.g. http://127.0.0.1:8042: poll its stable studies
    fetch_from: str | None = None  # where polled studies are retrieved (default <orthanc>/dicom-web)
    listen: str | None = None  # AE@host:port of our storage SCP
    store_to: list[str] = field(default_factory=list)  # default <orthanc>/dicom-web
    clinical: Path | None = None  # clinical.csv / clinical.json keyed by patient_id
    poll_s: float = 2.0
    stable_s: float = 2.0
    flush_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    mri_bundle: Path | None = None  # the MRI model bundle


def study_tag(study_uid: str) -> str:
    """A short stable name for a study in logs and folder names (logs carry no identifier in clear)."""
    return "st-" + hashlib.sha256(study_uid.encode()).hexdigest()[:10]


def study_key(series: list[tuple[str, str, int]], model_version: str) -> str:
    """The analysis key of a study: the model version and (series UID, instance count) of each input
    series, i.e. every ``(uid, description, count)`` that is not one of our result series."""
    inputs = sorted((uid, n) for uid, description, n in series if not is_result_series(description))
    return hashlib.sha256(json.dumps([model_version, inputs]).encode()).hexdigest()[:16]


def series_of_files(files: list[Path]) -> list[tuple[str, str, int]]:
    """(series UID, description, instance count) of DICOM files (unreadable files are left to the app)."""
    found: dict[str, list] = {}
    for f in files:
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "SeriesDescription"])
        except Exception:  # noqa: BLE001 - counted under a placeholder; the app names the broken file
            found.setdefault("unreadable", ["", 0])[1] += 1
            continue
        entry = found.setdefault(str(ds.get("SeriesInstanceUID", "")), [str(ds.get("SeriesDescription", "")), 0])
        entry[1] += 1
    return [(uid, d, n) for uid, (d, n) in found.items()]


class StudyService:
    """Receive, analyse and store back, one study at a time; :meth:`serve` runs until :meth:`stop`."""

    def __init__(self, config: ServiceConfig):
        self.config = config
        self.work = Path(config.work)
        self.bundle = Path(config.bundle or os.environ.get("HCCRISK_BUNDLE", DEFAULT_BUNDLE))
        self.store_to = list(config.store_to) or ([f"{config.orthanc.rstrip('/')}/dicom-web"] if config.orthanc else [])
        if not self.store_to:
            raise InputError("--store-to", "no PACS to store the results in (give --store-to or --orthanc)")
        for address in self.store_to:
            parse_address(address)  # a malformed address fails at start, not after the first study
        from operators.mri_core import DEFAULT_MRI_BUNDLE

        self.mri_bundle = Path(config.mri_bundle or os.environ.get("HCCRISK_MRI_BUNDLE", DEFAULT_MRI_BUNDLE))
        self._check_bundles()  # at start, not at the first study
        self.outbox = Outbox(self.work / "outbox", config.retry)
        self.state_path = self.work / "state.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {"since": None, "done": {}}
        self.received: Queue[Path] = Queue()
        self._stop, self._wake_flusher = threading.Event(), threading.Event()
        self._scp: StorageSCP | None = None
        self._rest = OrthancRest(config.orthanc, retry=config.retry) if config.orthanc else None
        self._fetch = connect(config.fetch_from or f"{config.orthanc.rstrip('/')}/dicom-web",
                              retry=config.retry) if config.orthanc else None

    def _check_bundles(self) -> None:
        """At least one model must be there (a CEUS-only or MRI-only site); a study of the other kind then
        fails with the app's error naming the missing model, and the service goes on."""
        from deploy import check_bundles

        self.kinds, problems = check_bundles(self.bundle, self.mri_bundle)
        if not self.kinds:
            raise problems[0]

    # -- life cycle ---------------------------------------------------------------------------------
    def serve(self) -> None:
        """Run until :meth:`stop` (SIGTERM / SIGINT in :func:`main`)."""
        import deploy.app  # noqa: F401 - import the SDK now, not inside the first study

        for folder in ("inbox", "studies", "results", "failed"):
            (self.work / folder).mkdir(parents=True, exist_ok=True)
        # Received before a stop or crash, not analysed yet: the SCP's inbox, and studies/ (a study moves there
        # before its analysis; a failed one waits there too, and its unchanged key skips it again).
        for folder in ("inbox", "studies"):
            for left in sorted((self.work / folder).iterdir()):
                if left.is_dir():
                    self.received.put(left)
        flusher = threading.Thread(target=self._flush_loop, name="outbox", daemon=True)
        flusher.start()
        if self.config.listen:
            ae = parse_address(self.config.listen)
            if not isinstance(ae, DimseAddress):
                raise InputError("--listen", f"{self.config.listen!r} is not AE@host:port")
            self._scp = StorageSCP(self.work / "inbox", ae.ae_title, ae.port, ae.host,
                                   on_study=self._on_received, stable_s=self.config.stable_s).start()
        if self._rest is not None:
            self._start_feed()
        log.info("serving: CEUS bundle %s, MRI bundle %s (usable: %s); %s%s; results to %s", self.bundle,
                 self.mri_bundle, "+".join(self.kinds),
                 f"polling {self.config.orthanc}" if self._rest else "",
                 f"; listening as {self._scp.address}" if self._scp else "", ", ".join(self.store_to))
        try:
            while not self._stop.is_set():
                try:
                    if self._rest is not None:
                        self._poll_once()
                    self._drain_received()
                except OSError as exc:  # the host's problem (disk full, say): say so, keep serving, try again
                    log.error("service: %s; retrying in %.0f s", exc, max(self.config.poll_s, 5.0))
                    self._stop.wait(max(self.config.poll_s, 5.0))
                self._stop.wait(self.config.poll_s)
        finally:
            if self._scp is not None:
                self._scp.stop()
            self._wake_flusher.set()
            flusher.join(timeout=5)
            log.info("stopped")

    def stop(self) -> None:
        self._stop.set()
        self._wake_flusher.set()

    # -- study sources -------------------------------------------------------------------------------
    def _on_received(self, study: ReceivedStudy) -> None:  # SCP worker thread: hand over, analyse on main
        self.received.put(study.folder)

    def _drain_received(self) -> None:
        while not self._stop.is_set():
            try:
                folder = self.received.get_nowait()
            except Empty:
                return
            study = self._take_received(folder)
            files = sorted(f for f in study.rglob("*.dcm") if f.is_file())
            if files and self.analyse(study.name, files, series_of_files(files)) is not None:
                shutil.rmtree(study, ignore_errors=True)
            # else kept in WORK/studies/: instances arriving later (a missing box SR) complete it

    def _take_received(self, folder: Path) -> Path:
        """Move a received study's files from the SCP's inbox into ``WORK/studies/<study>/`` (merged with
        any earlier part of the study) file by file, so an instance arriving meanwhile is never lost: it
        lands in a new inbox folder and comes with the next callback."""
        study = self.work / "studies" / folder.name
        for f in sorted(folder.rglob("*.dcm")):
            target = study / f.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, target)
        for d in sorted((d for d in folder.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)) + [folder]:
            try:
                d.rmdir()  # only when empty
            except OSError:
                pass
        return study

    def _start_feed(self) -> bool:
        """A new service starts after the newest change (it analyses the next study, not the history); the
        position is kept in state.json. False while the PACS cannot be asked (tried again at the next poll)."""
        if self.state.get("since") is None:
            try:
                self.state["since"] = self._rest.last_change()
            except PacsError as exc:
                log.error("change feed: %s; asking again at the next poll", exc)
                return False
            self._save_state()
        return True

    def _poll_once(self) -> None:
        if not self._start_feed():
            return
        try:
            uids, since = self._rest.stable_studies(int(self.state["since"]))
        except PacsError as exc:
            log.error("change feed: %s", exc)
            return
        for uid in dict.fromkeys(uids):
            try:
                series = [(s["SeriesInstanceUID"], s.get("SeriesDescription") or "",
                           int(s.get("NumberOfSeriesRelatedInstances") or 0)) for s in self._fetch.find_series(uid)]
                if self._already_done(uid, series):
                    continue
                folder = self.work / "fetch" / study_tag(uid)  # not inbox: a restart re-polls, not re-reads
                files = self._fetch.retrieve(uid, folder)
            except PacsError as exc:  # retried per the policy already; the next stable change brings it back
                log.error("study %s not fetched: %s", study_tag(uid), exc)
                continue
            try:
                self.analyse(uid, files, series_of_files(files))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        self.state["since"] = since
        self._save_state()

    # -- one study -------------------------------------------------------------------------------------
    def _model_version(self) -> str:
        from operators.inference_core import bundle_inputs

        # Both models' versions: a new CEUS or MRI model re-analyses the studies it serves.
        versions = []
        for bundle in (self.bundle, self.mri_bundle):
            try:
                versions.append(bundle_inputs(bundle)[1])
            except (OSError, ValueError, KeyError):
                versions.append("-")  # that model is not installed
        return "/".join(versions)

    def _already_done(self, study_uid: str, series: list[tuple[str, str, int]]) -> bool:
        if series and all(is_result_series(description) for _, description, _ in series):
            # Only our results (a study sent to our SCP, not to the PACS: the PACS holds just what we stored)
            log.info("study %s: only our results in it, nothing to analyse", study_tag(study_uid))
            return True
        key = study_key(series, self._model_version())
        if self.state["done"].get(study_uid) == key:
            log.info("study %s: already analysed with these series (only our results changed)", study_tag(study_uid))
            return True
        return False

    def analyse(self, study_uid: str, files: list[Path], series: list[tuple[str, str, int]]) -> list[Path] | None:
        """Run the app on one study's files, queue the results for every destination, remember the study.

        A study the app cannot analyse is logged, recorded in ``failed/``, and not retried until its
        series change; the service goes on with the next study. Returns the result files ([] when the
        study was already analysed as it is), None when it failed."""
        from deploy.app import run_study

        if self._already_done(study_uid, series):
            return []
        tag = study_tag(study_uid)
        run = self.work / "runs" / tag
        shutil.rmtree(run, ignore_errors=True)
        (run / "input").mkdir(parents=True)
        inputs = [f for f in files if not _is_own_result(f)]
        names = {Path(f).name for f in inputs}
        for k, f in enumerate(inputs):  # keep the received names (<SOP UID>.dcm): errors then name the instance
            name = Path(f).name if len(names) == len(inputs) else f"{k:05d}-{Path(f).name}"
            (run / "input" / name).symlink_to(Path(f).resolve())
        if self.config.clinical is not None:
            (run / "input" / f"clinical{self.config.clinical.suffix}").symlink_to(self.config.clinical.resolve())
        started = time.monotonic()
        try:
            results = run_study(run / "input", run / "output", self.bundle, self.mri_bundle)
            if not results:
                raise InputError(study_uid, "the app wrote no result")
        except Exception as exc:  # noqa: BLE001 - one study's failure must not stop the service
            self._record_failure(study_uid, series, exc)
            return None
        finally:
            shutil.rmtree(run / "input", ignore_errors=True)
        kept = self.work / "results" / tag
        shutil.rmtree(kept, ignore_errors=True)
        shutil.move(str(run / "output"), kept)
        shutil.rmtree(run, ignore_errors=True)
        results = sorted(kept.glob("*.dcm"))
        for destination in self.store_to:
            self.outbox.put(results, destination)  # on disk before we say done: nothing is lost
        self.state["done"][study_uid] = study_key(series, self._model_version())
        self._save_state()
        (self.work / "failed" / f"{tag}.json").unlink(missing_ok=True)
        log.info("study %s analysed in %.1f s: %d result(s) queued for %s", tag, time.monotonic() - started,
                 len(results), ", ".join(self.store_to))
        self._wake_flusher.set()
        return results

    def _record_failure(self, study_uid: str, series: list[tuple[str, str, int]], exc: Exception) -> None:
        tag = study_tag(study_uid)
        if isinstance(exc, HccriskError):
            log.error("study %s NOT analysed: %s", tag, exc)
        else:
            log.exception("study %s NOT analysed: unexpected %s", tag, type(exc).__name__)
        (self.work / "failed" / f"{tag}.json").write_text(json.dumps(
            {"study_uid": study_uid, "error": f"{type(exc).__name__}: {exc}", "time": time.strftime("%FT%T%z")},
            indent=1))
        self.state["done"][study_uid] = study_key(series, self._model_version())  # not again until it changes
        self._save_state()

    def _save_state(self) -> None:
        tmp = self.state_path.with_name("state.json.partial")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)

    # -- store-back ------------------------------------------------------------------------------------
    def _flush_loop(self) -> None:
        """The only thread that delivers: every ``flush_s`` or when woken, each outbox item (with the
        retry policy's back-off); what still fails stays on disk for the next round."""
        while True:
            self._wake_flusher.wait(self.config.flush_s)
            self._wake_flusher.clear()
            if self.outbox.items():
                delivered, errors = self.outbox.flush()
                if delivered or errors:
                    log.info("outbox: %d item(s) stored, %d waiting", delivered, len(errors))
            if self._stop.is_set():
                return


def _is_own_result(path: Path) -> bool:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesDescription"])
    except Exception:  # noqa: BLE001 - the app reports unreadable files
        return False
    return is_result_series(ds.get("SeriesDescription"))


def main(argv: list[str] | None = None) -> None:
    """``python -m deploy serve``: the service; see the module docstring and docs/deploy.md."""
    parser = argparse.ArgumentParser(prog="python -m deploy serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="state, inbox, results, outbox, failed")
    parser.add_argument("--bundle", type=Path, help="CEUS model bundle folder (default $HCCRISK_BUNDLE or bundles/ceus_mp)")
    parser.add_argument("--mri-bundle", type=Path,
                        help="MRI model bundle folder (default $HCCRISK_MRI_BUNDLE or bundles/resnet_zhao2024); "
                             "a site may serve one kind only: at least one of the two must hold its model")
    parser.add_argument("--orthanc", help="Orthanc REST root to poll for stable studies, e.g. http://127.0.0.1:8042")
    parser.add_argument("--fetch-from", help="where polled studies are retrieved (default ORTHANC/dicom-web; "
                                             "or AE@host:port for C-GET)")
    parser.add_argument("--listen", help="run a storage SCP, AE@host:port (the PACS routes studies to it)")
    parser.add_argument("--store-to", action="append", default=[],
                        help="where results go: DICOMweb URL (STOW-RS) or AE@host:port (C-STORE); repeatable "
                             "(default ORTHANC/dicom-web)")
    parser.add_argument("--clinical", type=Path, help="clinical.csv (patient_id + columns) or clinical.json")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between change-feed polls")
    parser.add_argument("--stable", type=float, default=2.0, help="SCP: quiet seconds before a study is complete")
    parser.add_argument("--flush", type=float, default=10.0, help="seconds between outbox deliveries")
    parser.add_argument("--retries", type=int, default=4, help="retries per delivery after a transient failure")
    parser.add_argument("--retry-delay", type=float, default=1.0, help="first wait (s); doubles each retry")
    parser.add_argument("--max-retry-delay", type=float, default=30.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    configure(verbose=args.verbose)
    if not (args.orthanc or args.listen):
        parser.error("give --orthanc (poll its stable studies) and/or --listen (storage SCP)")
    if args.clinical is not None and not args.clinical.is_file():
        parser.error(f"--clinical {args.clinical}: no such file")
    config = ServiceConfig(args.work, args.bundle, args.orthanc, args.fetch_from, args.listen, args.store_to,
                           args.clinical, args.poll, args.stable, args.flush,
                           RetryPolicy(args.retries + 1, args.retry_delay, max_delay_s=args.max_retry_delay),
                           args.mri_bundle)
    try:
        service = StudyService(config)
    except HccriskError as exc:
        parser.exit(2, f"error: {exc}\n")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    service.serve()
