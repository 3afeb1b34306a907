"""A DICOM storage SCP (pynetdicom) that files studies into a folder and reports complete studies.

A study counts as complete when the association that delivered it has ended (released or aborted)
and no further instance of that study arrived for ``stable_s`` seconds; the callback then runs once,
on a worker thread, with every file of the study received so far. More instances arriving later
start a new quiet period and a new callback (with all files).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from hccrisk.log import get_logger
from hccrisk.pacs.errors import PacsError
from hccrisk.pacs.files import instance_path, write_atomic

log = get_logger(__name__)

_SUCCESS, _CANNOT_UNDERSTAND, _OUT_OF_RESOURCES = 0x0000, 0xC000, 0xA700


@dataclass(frozen=True)
class ReceivedStudy:
    """A complete study: its UID, its folder, its files (sorted), and who sent it."""

    study_uid: str
    folder: Path
    files: tuple[Path, ...]
    calling_ae_title: str


@dataclass
class _Pending:
    files: set[Path] = field(default_factory=set)
    open_associations: set[int] = field(default_factory=set)
    calling_aet: str = ""
    timer: threading.Timer | None = None


def storage_acceptor_ae(ae_title: str) -> AE:
    """An AE that accepts every storage SOP class in every transfer syntax, and C-ECHO."""
    ae = AE(ae_title=ae_title)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    return ae


class StorageSCP:
    """Receive C-STORE into ``root/<study>/<series>/<sop>.dcm``; call ``on_study`` per complete study.

    ``port=0`` picks a free port (see :attr:`port` after :meth:`start`). Files are stored byte for
    byte as sent (preamble and file meta written by pynetdicom from the negotiated transfer syntax).
    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, root: Path, ae_title: str = "HCCRISK", port: int = 0, host: str = "127.0.0.1",
                 on_study: Callable[[ReceivedStudy], None] | None = None, stable_s: float = 2.0):
        self.root = Path(root)
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self.on_study = on_study
        self.stable_s = stable_s
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._server = None

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> "StorageSCP":
        self.root.mkdir(parents=True, exist_ok=True)
        ae = storage_acceptor_ae(self.ae_title)
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_RELEASED, self._on_end),
                    (evt.EVT_ABORTED, self._on_end), (evt.EVT_C_ECHO, lambda event: _SUCCESS)]
        try:
            self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        except OSError as exc:
            raise PacsError(f"{self.ae_title}@{self.host}:{self.port}",
                            f"storage SCP cannot listen ({exc.strerror or exc})") from None
        self.port = self._server.server_address[1]
        log.info("storage SCP %s listening on %s:%d -> %s", self.ae_title, self.host, self.port, self.root)
        return self

    def stop(self) -> None:
        """Stop listening (open associations are ended); every study received and not yet reported
        is reported now, so nothing received goes unannounced."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        with self._lock:
            due = list(self._pending)
            for pending in self._pending.values():
                if pending.timer is not None:
                    pending.timer.cancel()
                pending.open_associations.clear()
        for uid in due:
            self._report(uid)

    def __enter__(self) -> "StorageSCP":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"

    # -- events ---------------------------------------------------------------------------------
    def _on_store(self, event) -> int:
        try:
            ds = event.dataset
        except Exception as exc:  # a dataset pydicom cannot decode: refuse it, keep serving
            log.error("C-STORE from %s refused: cannot decode dataset (%s)",
                      event.assoc.requestor.ae_title, exc)
            return _CANNOT_UNDERSTAND
        if "StudyInstanceUID" not in ds or "SOPInstanceUID" not in ds:
            log.error("C-STORE from %s refused: no Study/SOP Instance UID", event.assoc.requestor.ae_title)
            return _CANNOT_UNDERSTAND
        path = instance_path(self.root, ds)
        try:
            write_atomic(path, event.encoded_dataset(include_meta=True))
        except OSError as exc:
            log.error("C-STORE: cannot write %s (%s)", path, exc)
            return _OUT_OF_RESOURCES
        with self._lock:
            pending = self._pending.setdefault(str(ds.StudyInstanceUID), _Pending())
            pending.files.add(path)
            pending.open_associations.add(id(event.assoc))
            pending.calling_aet = event.assoc.requestor.ae_title
            if pending.timer is not None:  # more data: the quiet period starts again
                pending.timer.cancel()
                pending.timer = None
        return _SUCCESS

    def _on_end(self, event) -> None:
        assoc = id(event.assoc)
        with self._lock:
            for uid, pending in self._pending.items():
                if assoc in pending.open_associations:
                    pending.open_associations.discard(assoc)
                    if not pending.open_associations:
                        pending.timer = threading.Timer(self.stable_s, self._report, args=(uid,))
                        pending.timer.daemon = True
                        pending.timer.start()

    def _report(self, study_uid: str) -> None:
        with self._lock:
            pending = self._pending.get(study_uid)
            if pending is None or pending.open_associations:
                return
            del self._pending[study_uid]
        files = tuple(sorted(pending.files))
        study = ReceivedStudy(study_uid, files[0].parent.parent, files, pending.calling_aet)
        log.info("study complete: %d instance(s) from %s", len(files), pending.calling_aet)
        if self.on_study is not None:
            try:
                self.on_study(study)
            except Exception:  # the callback's failure must not stop the SCP
                log.exception("on_study callback failed for a study from %s", pending.calling_aet)
