"""DICOMweb client (QIDO-RS search, WADO-RS retrieve, STOW-RS store) over dicomweb-client."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pydicom
import requests

from hccrisk.pacs.errors import PacsError
from hccrisk.pacs.files import read_for_sending, save_dataset
from hccrisk.pacs.retry import RetryPolicy, with_retries

# dicomweb-client's `retrying` decorator logs a traceback per failed try even with its retries off;
# our retry loop already logs each failure in one line.
logging.getLogger("retrying").setLevel(logging.ERROR)

# Ask for the instances as stored: without it a DICOMweb server may transcode to Explicit VR LE.
_AS_STORED = (("application/dicom", "*"),)
_STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
                 "NumberOfStudyRelatedInstances", "StudyDescription")
_SERIES_FIELDS = ("SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                  "NumberOfSeriesRelatedInstances")


def _plain(record: dict, keys: Sequence[str]) -> dict:
    """DICOM JSON (tag -> {vr, Value}) -> {keyword: value, or list when multi-valued} for ``keys``."""
    out = dict.fromkeys(keys)
    for tag, element in record.items():
        keyword = pydicom.datadict.keyword_for_tag(int(tag, 16)) or tag
        values = element.get("Value", [])
        if element.get("vr") == "PN":
            values = [v.get("Alphabetic", "") if isinstance(v, dict) else v for v in values]
        if keyword in out:
            out[keyword] = values[0] if len(values) == 1 else (values or None)
    return out


class DicomWebClient:
    """One DICOMweb server (``url`` = service root, e.g. ``http://127.0.0.1:8042/dicom-web``).

    Every call is retried per ``retry`` on connection errors, timeouts and HTTP 5xx/408/429; other
    HTTP errors raise :class:`PacsError` at once with the status.
    """

    def __init__(self, url: str, retry: RetryPolicy = RetryPolicy(), timeout_s: float = 30.0,
                 session: requests.Session | None = None):
        from dicomweb_client.api import DICOMwebClient

        self.address = url.rstrip("/")
        self.retry = retry
        self._client = DICOMwebClient(self.address, session=session, timeout=timeout_s)
        self._client.set_http_retry_params(retry=False)  # one retry policy: ours

    def _call(self, what: str, fn):
        def once():
            try:
                return fn()
            except requests.exceptions.ConnectionError as exc:
                reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
                raise PacsError(self.address, f"{what}: {reason} ({type(exc).__name__})",
                                retryable=True) from None
            except requests.exceptions.Timeout:
                raise PacsError(self.address, f"{what}: timed out", retryable=True) from None
            except requests.exceptions.HTTPError as exc:
                status = exc.response.status_code if exc.response is not None else 0
                text = " ".join(exc.response.text.split())[:200] if exc.response is not None else ""
                if status in (401, 403):
                    text = ("not authorized: set HCCRISK_DICOMWEB_USER and HCCRISK_DICOMWEB_PASSWORD, "
                            "or HCCRISK_DICOMWEB_TOKEN" + (f"; server says: {text}" if text else ""))
                raise PacsError(self.address, f"{what}: HTTP {status}" + (f" ({text})" if text else ""),
                                retryable=status >= 500 or status in (408, 429)) from None
        return with_retries(once, self.retry, f"{what} at {self.address}")

    def echo(self) -> None:
        """Check that the server answers a QIDO-RS query (the DICOMweb analogue of C-ECHO)."""
        self._call("echo (QIDO-RS /studies?limit=1)", lambda: self._client.search_for_studies(limit=1))

    def find_studies(self, **filters: str) -> list[dict]:
        """QIDO-RS study search, e.g. ``find_studies(PatientID="P001")``; records keyed by keyword."""
        found = self._call("QIDO-RS study search", lambda: self._client.search_for_studies(
            search_filters=filters or None, fields=list(_STUDY_FIELDS), get_remaining=True))
        return [_plain(r, _STUDY_FIELDS) for r in found]

    def find_series(self, study_uid: str) -> list[dict]:
        """QIDO-RS series of one study; records keyed by keyword."""
        found = self._call(f"QIDO-RS series search of study {study_uid}",
                           lambda: self._client.search_for_series(
                               study_instance_uid=study_uid, fields=list(_SERIES_FIELDS),
                               get_remaining=True))
        return [_plain(r, _SERIES_FIELDS) for r in found]

    def retrieve(self, study_uid: str, out: Path, series_uid: str | None = None) -> list[Path]:
        """WADO-RS: write the study (or one series) as stored under ``out/<study>/<series>/<sop>.dcm``."""
        what = f"WADO-RS retrieve of study {study_uid}" + (f" series {series_uid}" if series_uid else "")

        def fetch() -> list[Path]:
            if series_uid:
                datasets = self._client.iter_series(study_uid, series_uid, media_types=_AS_STORED)
            else:
                datasets = self._client.iter_study(study_uid, media_types=_AS_STORED)
            return [save_dataset(out, ds) for ds in datasets]

        paths = self._call(what, fetch)
        if not paths:
            raise PacsError(self.address, f"{what}: no instances")
        return paths

    def store(self, files: Sequence[Path], max_request_bytes: int = 256 * 2**20) -> int:
        """STOW-RS the files: one request per study, split so a request carries at most about
        ``max_request_bytes`` of files (memory holds one request); returns the number stored."""
        by_study: dict[str, list[Path]] = {}
        for path in files:
            ds = read_for_sending(path, header_only=True)
            by_study.setdefault(str(ds.StudyInstanceUID), []).append(Path(path))
        for study_uid, paths in by_study.items():
            for chunk in _chunks(paths, max_request_bytes):
                datasets = [read_for_sending(p) for p in chunk]
                response = self._call(f"STOW-RS of {len(datasets)} instance(s) of study {study_uid}",
                                      lambda d=datasets, s=study_uid: self._client.store_instances(d, s))
                failed = response.get("FailedSOPSequence", []) if response is not None else []
                if failed:
                    reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
                    raise PacsError(self.address, f"STOW-RS rejected {len(failed)} instance(s) of "
                                    f"study {study_uid} (failure reason {', '.join(reasons)})")
        return sum(len(v) for v in by_study.values())


def _chunks(paths: list[Path], max_bytes: int) -> list[list[Path]]:
    """Consecutive groups of files whose sizes add up to at most ``max_bytes`` (or one file)."""
    chunks: list[list[Path]] = [[]]
    size = 0
    for path in paths:
        n = path.stat().st_size
        if chunks[-1] and size + n > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(path)
        size += n
    return chunks
