"""PACS errors: each names the server (URL or AE@host:port) and the problem."""

from __future__ import annotations

from hccrisk.errors import HccriskError


class PacsError(HccriskError):
    """A PACS operation failed.

    ``server`` is the address as the user gave it (``http://host:8042/dicom-web`` or
    ``AE@host:port``); ``retryable`` says whether trying again later can help (server down, timeout,
    HTTP 5xx, transient association rejection) or not (HTTP 4xx, permanent rejection, bad data).
    """

    def __init__(self, server: str, problem: str, retryable: bool = False):
        self.server = server
        self.problem = problem
        self.retryable = retryable
        super().__init__(f"{server}: {problem}")
