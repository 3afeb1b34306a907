"""One interface for both protocols: :func:`connect` gives a DICOMweb or a DIMSE client."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from hccrisk.pacs.address import DicomWebAddress, parse_address
from hccrisk.pacs.retry import RetryPolicy

if TYPE_CHECKING:
    import requests


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
            timeout_s: float = 30.0, session: "requests.Session | None" = None) -> PacsClient:
    """A client for ``http(s)://.../dicom-web`` (DICOMweb) or ``AE@host:port`` (DIMSE).

    ``session``: a ``requests.Session`` for DICOMweb carrying authentication (``session.auth``,
    an ``Authorization`` header) or TLS settings; default :func:`dicomweb_session_from_env`.
    Nothing is contacted yet; :class:`hccrisk.errors.InputError` if the address is malformed.
    """
    parsed = parse_address(address)
    if isinstance(parsed, DicomWebAddress):
        from hccrisk.pacs.dicomweb import DicomWebClient

        return DicomWebClient(parsed.url, retry=retry, timeout_s=timeout_s,
                              session=session or dicomweb_session_from_env())
    from hccrisk.pacs.dimse import DimseClient

    return DimseClient(parsed, calling_ae_title=calling_ae_title, retry=retry, timeout_s=timeout_s)


def dicomweb_session_from_env() -> "requests.Session":
    """A session with the credentials in the environment, if any: ``HCCRISK_DICOMWEB_TOKEN``
    (bearer token), else ``HCCRISK_DICOMWEB_USER`` + ``HCCRISK_DICOMWEB_PASSWORD`` (HTTP basic)."""
    import os

    import requests

    session = requests.Session()
    token = os.environ.get("HCCRISK_DICOMWEB_TOKEN")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    elif os.environ.get("HCCRISK_DICOMWEB_USER"):
        session.auth = (os.environ["HCCRISK_DICOMWEB_USER"],
                        os.environ.get("HCCRISK_DICOMWEB_PASSWORD", ""))
    return session
