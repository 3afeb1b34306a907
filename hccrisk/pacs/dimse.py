"""DIMSE client (pynetdicom): C-ECHO, C-FIND, C-GET / C-MOVE retrieve, C-STORE."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from pydicom.dataset import Dataset
from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian, JPEG2000, JPEG2000Lossless, JPEGBaseline8Bit,
                         JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
                         RLELossless)
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.sop_class import (StudyRootQueryRetrieveInformationModelFind,
                                  StudyRootQueryRetrieveInformationModelGet,
                                  StudyRootQueryRetrieveInformationModelMove, Verification)
from pynetdicom import sop_class as sc

from hccrisk.log import get_logger
from hccrisk.pacs.address import DimseAddress
from hccrisk.pacs.errors import PacsError
from hccrisk.pacs.files import instance_path, read_for_sending, write_atomic
from hccrisk.pacs.retry import RetryPolicy, with_retries

log = get_logger(__name__)

#: Storage classes hccrisk retrieves with C-GET: images it reads and objects it or its viewers write.
#: (C-GET needs one requested context per class and transfer syntax, at most 128 in all.)
RETRIEVE_SOP_CLASSES = (
    sc.UltrasoundMultiFrameImageStorage, sc.UltrasoundImageStorage, sc.MRImageStorage,
    sc.EnhancedMRImageStorage, sc.CTImageStorage, sc.SecondaryCaptureImageStorage,
    sc.MultiFrameTrueColorSecondaryCaptureImageStorage, sc.SegmentationStorage,
    sc.Comprehensive3DSRStorage, sc.ComprehensiveSRStorage, sc.EnhancedSRStorage,
    sc.EncapsulatedPDFStorage,
)
#: Transfer syntaxes offered per class in C-GET, so instances come back as stored, not transcoded.
RETRIEVE_TRANSFER_SYNTAXES = (
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian], [JPEGBaseline8Bit], [JPEGExtended12Bit],
    [JPEGLosslessSV1], [JPEGLSLossless], [JPEGLSNearLossless], [JPEG2000Lossless], [JPEG2000],
    [RLELossless], [DeflatedExplicitVRLittleEndian],
)
_REJECT_REASONS = {  # (source, diagnostic) -> words; PS3.8 table 9-21
    (1, 1): "no reason given", (1, 2): "application context not supported",
    (1, 3): "calling AE title not recognized", (1, 7): "called AE title not recognized",
    (2, 1): "no reason given (ACSE)", (2, 2): "protocol version not supported",
    (3, 1): "temporary congestion", (3, 2): "local limit exceeded",
}


class DimseClient:
    """One DIMSE peer (``AE@host:port``), calling as ``calling_ae_title``.

    Connection failures, timeouts and transient association rejections are retried per ``retry``;
    permanent rejections and failure statuses raise :class:`PacsError` at once.
    """

    def __init__(self, peer: DimseAddress, calling_ae_title: str = "HCCRISK",
                 retry: RetryPolicy = RetryPolicy(), timeout_s: float = 30.0):
        self.peer = peer
        self.address = str(peer)
        self.calling_ae_title = calling_ae_title
        self.retry = retry
        self.timeout_s = timeout_s

    # -- association ----------------------------------------------------------------------------
    def _probe(self, what: str) -> None:
        # pynetdicom reports every failed connection the same way; a plain TCP connect first tells
        # "refused", "timed out" and "unknown host" apart for the error message.
        try:
            with socket.create_connection((self.peer.host, self.peer.port), timeout=self.timeout_s):
                pass
        except socket.gaierror as exc:
            raise PacsError(self.address, f"{what}: unknown host {self.peer.host!r} ({exc.strerror})",
                            retryable=False) from None
        except ConnectionRefusedError:
            raise PacsError(self.address, f"{what}: connection refused (nothing listens on "
                            f"{self.peer.host}:{self.peer.port})", retryable=True) from None
        except (socket.timeout, OSError) as exc:
            raise PacsError(self.address, f"{what}: cannot connect ({exc})", retryable=True) from None

    @contextmanager
    def _association(self, what: str, ae: AE, **kwargs) -> Iterator:
        self._probe(what)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        assoc = ae.associate(self.peer.host, self.peer.port, ae_title=self.peer.ae_title, **kwargs)
        if not assoc.is_established:
            if assoc.is_rejected and assoc.acceptor.primitive is not None:
                prim = assoc.acceptor.primitive
                reason = _REJECT_REASONS.get((prim.result_source, prim.diagnostic),
                                             f"source {prim.result_source}, diagnostic {prim.diagnostic}")
                transient = prim.result == 0x02
                raise PacsError(self.address, f"{what}: association rejected "
                                f"({'transient' if transient else 'permanent'}: {reason}; we called as "
                                f"{self.calling_ae_title!r})", retryable=transient)
            raise PacsError(self.address, f"{what}: association aborted or timed out",
                            retryable=True)
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()

    def _ae(self) -> AE:
        return AE(ae_title=self.calling_ae_title)

    # -- services -------------------------------------------------------------------------------
    def echo(self) -> None:
        """C-ECHO; raises :class:`PacsError` unless the peer answers with success."""
        def once():
            ae = self._ae()
            ae.add_requested_context(Verification)
            with self._association("C-ECHO", ae) as assoc:
                status = assoc.send_c_echo()
                _check(self.address, "C-ECHO", status)
        with_retries(once, self.retry, f"C-ECHO to {self.address}")

    def find_studies(self, **filters: str) -> list[dict]:
        """Study-root C-FIND at STUDY level; ``filters`` are keyword matches (e.g. PatientID)."""
        keys = ("StudyInstanceUID", "PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
                "NumberOfStudyRelatedInstances", "StudyDescription")
        return self._find("STUDY", keys, filters)

    def find_series(self, study_uid: str) -> list[dict]:
        """Study-root C-FIND at SERIES level within one study."""
        keys = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                "NumberOfSeriesRelatedInstances")
        return self._find("SERIES", keys, {"StudyInstanceUID": study_uid})

    def _find(self, level: str, keys: Sequence[str], filters: dict) -> list[dict]:
        query = Dataset()
        query.QueryRetrieveLevel = level
        for key in keys:
            setattr(query, key, "")
        for key, value in filters.items():
            setattr(query, key, value)

        def once() -> list[dict]:
            ae = self._ae()
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
            found = []
            with self._association(f"C-FIND {level}", ae) as assoc:
                for status, identifier in assoc.send_c_find(
                        query, StudyRootQueryRetrieveInformationModelFind):
                    _check(self.address, f"C-FIND {level}", status, pending_ok=True,
                           calling_aet=self.calling_ae_title)
                    if identifier is not None and status.Status in (0xFF00, 0xFF01):
                        found.append({k: _value(identifier[k] if k in identifier else None) for k in keys})
            return found
        return with_retries(once, self.retry, f"C-FIND to {self.address}")

    def retrieve(self, study_uid: str, out: Path, series_uid: str | None = None,
                 move_to: "StorageSCPLike | None" = None) -> list[Path]:
        """Fetch a study (or series) into ``out/<study>/<series>/<sop>.dcm``; returns the paths.

        By default C-GET (the instances come back on the same association). With ``move_to`` (a
        running :class:`~hccrisk.pacs.scp.StorageSCP` whose AE title the PACS knows), C-MOVE to it:
        the files land in the SCP's folder (``out`` is not used) and its callback fires as usual.
        """
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
        query.StudyInstanceUID = study_uid
        if series_uid:
            query.SeriesInstanceUID = series_uid
        what = f"C-{'MOVE' if move_to else 'GET'} of study {study_uid}"

        def once() -> list[Path]:
            return self._move(query, move_to, what) if move_to else self._get(query, out, what)

        paths = with_retries(once, self.retry, f"{what} from {self.address}")
        if not paths:
            raise PacsError(self.address, f"{what}: no instances")
        return sorted(paths)

    def _get(self, query: Dataset, out: Path, what: str) -> list[Path]:
        ae = self._ae()
        ae.requested_contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)] + [
            build_context(sop, syntaxes)
            for sop in RETRIEVE_SOP_CLASSES for syntaxes in RETRIEVE_TRANSFER_SYNTAXES]
        roles = [build_role(sop, scp_role=True) for sop in RETRIEVE_SOP_CLASSES]
        received: list[Path] = []
        lock = threading.Lock()

        def on_store(event) -> int:
            path = instance_path(out, event.dataset)
            write_atomic(path, event.encoded_dataset(include_meta=True))
            with lock:
                received.append(path)
            return 0x0000

        with self._association(what, ae, ext_neg=roles,
                               evt_handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
            for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
                _check(self.address, what, status, pending_ok=True, sub_ops=True,
                       calling_aet=self.calling_ae_title)
        return received

    def _move(self, query: Dataset, scp: "StorageSCPLike", what: str) -> list[Path]:
        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        with self._association(what, ae) as assoc:
            for status, _ in assoc.send_c_move(query, scp.ae_title,
                                               StudyRootQueryRetrieveInformationModelMove):
                _check(self.address, f"{what} to {scp.ae_title}", status, pending_ok=True,
                       sub_ops=True, calling_aet=self.calling_ae_title)
        study_dir = scp.root / str(query.StudyInstanceUID)
        if "SeriesInstanceUID" in query:
            study_dir = study_dir / str(query.SeriesInstanceUID)
        return list(study_dir.rglob("*.dcm")) if study_dir.is_dir() else []

    def store(self, files: Sequence[Path]) -> int:
        """C-STORE the files (each in its own transfer syntax, never transcoded); returns the count.

        Headers are read first (to propose the contexts); each file is read whole only when it is sent,
        so memory holds one file at a time.
        """
        datasets = [(Path(path), read_for_sending(path, header_only=True)) for path in files]
        pairs = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _, ds in datasets})
        stored = 0
        for start in range(0, len(pairs), 120):  # at most 128 contexts per association
            chunk = set(pairs[start:start + 120])
            batch = [(p, ds) for p, ds in datasets
                     if (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) in chunk]
            stored += with_retries(lambda b=batch, c=chunk: self._store(b, c), self.retry,
                                   f"C-STORE to {self.address}")
        return stored

    def _store(self, batch: list[tuple[Path, Dataset]], pairs: set[tuple[str, str]]) -> int:
        ae = self._ae()
        for sop, syntax in sorted(pairs):
            ae.add_requested_context(sop, [syntax])
        with self._association(f"C-STORE of {len(batch)} instance(s)", ae) as assoc:
            for path, _ in batch:
                status = assoc.send_c_store(read_for_sending(path))
                _check(self.address, f"C-STORE of {path.name}", status)
        return len(batch)


class StorageSCPLike(Protocol):
    """What C-MOVE needs of a :class:`~hccrisk.pacs.scp.StorageSCP`: where it files what it gets."""

    ae_title: str
    root: Path


def _value(element) -> object:
    """An identifier element as plain Python, shaped like the DICOMweb client's records."""
    if element is None or element.value in ("", None):
        return None
    if element.VM > 1:
        return [str(v) for v in element.value]
    if element.VR in ("IS", "US", "UL", "SS", "SL"):  # numbers as numbers, like DICOM JSON
        return int(element.value)
    if element.VR in ("DS", "FL", "FD"):
        return float(element.value)
    return str(element.value)


def _check(server: str, what: str, status: Dataset | None, pending_ok: bool = False,
           sub_ops: bool = False, calling_aet: str = "") -> None:
    """Raise :class:`PacsError` for an empty response or a failure status."""
    if status is None or "Status" not in status:
        # Orthanc, for one, aborts instead of answering a calling AE it does not know
        hint = (f"; is our calling AE title {calling_aet!r} a modality the PACS allows this service?"
                if calling_aet else "")
        raise PacsError(server, f"{what}: no response (association aborted by the PACS or DIMSE "
                        f"timeout{hint})", retryable=True)
    code = int(status.Status)
    if code == 0x0000 or (pending_ok and code in (0xFF00, 0xFF01)):
        return
    if code & 0xF000 == 0xB000 and not (sub_ops and int(status.get("NumberOfFailedSuboperations", 0))):
        log.warning("%s: %s warning status 0x%04X", server, what, code)
        return
    detail = f"status 0x{code:04X}"
    if sub_ops and "NumberOfFailedSuboperations" in status:
        detail += f", {status.NumberOfFailedSuboperations} failed sub-operation(s)"
    if "ErrorComment" in status:
        detail += f": {status.ErrorComment}"
    # Only "out of resources" (0xA7xx) may pass with time; e.g. 0xA801 (move destination unknown) won't.
    raise PacsError(server, f"{what} failed ({detail})", retryable=code & 0xFF00 == 0xA700)
