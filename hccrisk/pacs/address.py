"""PACS addresses as users type them: a DICOMweb URL or a DIMSE ``AE@host:port``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from hccrisk.errors import InputError

_DIMSE = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class DimseAddress:
    """A DIMSE peer: called AE title, host and TCP port."""

    ae_title: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class DicomWebAddress:
    """A DICOMweb service root, e.g. ``http://127.0.0.1:8042/dicom-web``."""

    url: str

    def __str__(self) -> str:
        return self.url


def parse_address(text: str) -> DimseAddress | DicomWebAddress:
    """``http(s)://...`` -> :class:`DicomWebAddress`; ``AE@host:port`` -> :class:`DimseAddress`.

    Raises :class:`InputError` naming the address when it is neither.
    """
    text = text.strip()
    if text.lower().startswith(("http://", "https://")):
        parsed = urlparse(text)
        if not parsed.hostname:
            raise InputError(text, "DICOMweb URL has no host")
        try:
            parsed.port  # noqa: B018 - raises on a non-numeric port
        except ValueError as exc:
            raise InputError(text, f"DICOMweb URL has a bad port ({exc})") from None
        return DicomWebAddress(text.rstrip("/"))
    match = _DIMSE.match(text)
    if not match:
        raise InputError(text, "not a PACS address: expected a DICOMweb URL (http://host:port/dicom-web)"
                               " or a DIMSE address AE@host:port (AE title at most 16 characters)")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise InputError(text, f"port {port} is outside 1-65535")
    aet = match["aet"].strip()
    if not aet or "\\" in aet:
        raise InputError(text, "AE title is empty or contains a backslash")
    return DimseAddress(aet, match["host"], port)
