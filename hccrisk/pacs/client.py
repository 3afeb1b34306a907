"""One interface for both protocols: :func:`connect` gives a DICOMweb or a DIMSE client."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

from hccrisk.pacs.address import DicomWebAddress, parse_address
from hccrisk.pacs.retry import RetryPolicy


class PacsClient(Protocol):
    """What both :class:`~hccrisk.pacs.dicomweb.DicomWebClient` and
    :class:`~hccrisk.pacs.dimse.DimseClient` offer. Records from ``find_*`` are dicts keyed by DICOM
    keyword (``StudyInstanceUID``, ``PatientID``, ...); files land in ``out/<study>/<series>/<sop>.dcm``.
    """

    address: str
    retry: RetryPolicy

    def echo(self) -> None: ...

    def find_studies(self, **filters: str) -> list[dict]: ...

    def find_series(self, study_uid: str) -> list[dict]: ...

    def retrieve(self, study_uid: str, out: Path, series_uid: str | None = None) -> list[Path]: ...

    def store(self, files: Sequence[Path]) -> int: ...


def connect(address: str, retry: RetryPolicy = RetryPolicy(), calling_ae_title: str = "HCCRISK",
            timeout_s: float = 30.0) -> PacsClient:
    """A client for ``http(s)://.../dicom-web`` (DICOMweb) or ``AE@host:port`` (DIMSE).

    Nothing is contacted yet; :class:`hccrisk.errors.InputError` if the address is malformed.
    """
    parsed = parse_address(address)
    if isinstance(parsed, DicomWebAddress):
        from hccrisk.pacs.dicomweb import DicomWebClient

        return DicomWebClient(parsed.url, retry=retry, timeout_s=timeout_s)
    from hccrisk.pacs.dimse import DimseClient

    return DimseClient(parsed, calling_ae_title=calling_ae_title, retry=retry, timeout_s=timeout_s)
