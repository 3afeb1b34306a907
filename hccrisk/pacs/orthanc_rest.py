"""Orthanc's REST API where DICOM has no equivalent: the change feed of stable studies."""

from __future__ import annotations

import threading
from typing import Callable

import requests

from hccrisk.log import get_logger
from hccrisk.pacs.errors import PacsError
from hccrisk.pacs.retry import RetryPolicy, with_retries

log = get_logger(__name__)


class OrthancRest:
    """Orthanc's REST root (e.g. ``http://127.0.0.1:8042``), retried per ``retry``."""

    def __init__(self, url: str, retry: RetryPolicy = RetryPolicy(), timeout_s: float = 30.0,
                 auth: tuple[str, str] | None = None):
        self.url = url.rstrip("/")
        self.retry = retry
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.auth = auth

    def _request(self, method: str, path: str, params: dict | None = None,
                 data: str | bytes | None = None) -> object:
        what = f"{method} /{path.lstrip('/')}"

        def once():
            try:
                response = self._session.request(method, f"{self.url}/{path.lstrip('/')}", params=params,
                                                 data=data, timeout=self.timeout_s)
            except requests.ConnectionError:
                raise PacsError(self.url, f"{what}: cannot connect", retryable=True) from None
            except requests.Timeout:
                raise PacsError(self.url, f"{what}: timed out", retryable=True) from None
            if response.status_code != 200:
                body = " ".join(response.text.split())[:200]
                raise PacsError(self.url, f"{what}: HTTP {response.status_code} {body}",
                                retryable=response.status_code >= 500)
            return response.json() if response.content else None
        return with_retries(once, self.retry, f"{what} at {self.url}")

    def get(self, path: str, **params) -> object:
        """GET ``path`` (JSON); :class:`PacsError` naming the URL and the HTTP status on failure."""
        return self._request("GET", path, params)

    def study_id(self, study_uid: str) -> str:
        """Orthanc's own ID of the study with this StudyInstanceUID (:class:`PacsError` if absent)."""
        found = [r for r in self._request("POST", "tools/lookup", data=study_uid) or []
                 if r.get("Type") == "Study"]
        if not found:
            raise PacsError(self.url, f"no study {study_uid} in Orthanc")
        return found[0]["ID"]

    def send_study(self, study_uid: str, modality: str = "hccrisk") -> None:
        """Have Orthanc C-STORE the study to one of its configured modalities (what a routing rule
        does); returns when Orthanc has sent it."""
        self._request("POST", f"modalities/{modality}/store", data=self.study_id(study_uid))

    def last_change(self) -> int:
        """The sequence number of the newest change (start a watch here to skip the history)."""
        return int(self.get("changes", last="")["Last"])

    def stable_studies(self, since: int = 0) -> tuple[list[str], int]:
        """StudyInstanceUIDs that became stable after change ``since``; and the new ``since``."""
        uids = []
        while True:
            page = self.get("changes", since=since, limit=100)
            for change in page["Changes"]:
                if change["ChangeType"] == "StableStudy":
                    tags = self.get(f"studies/{change['ID']}").get("MainDicomTags", {})
                    if "StudyInstanceUID" in tags:
                        uids.append(tags["StudyInstanceUID"])
            since = int(page["Last"])
            if page.get("Done", True):
                return uids, since

    def watch_stable_studies(self, on_study: Callable[[str], None], stop: threading.Event,
                             since: int | None = None, poll_s: float = 5.0) -> int:
        """Poll ``/changes`` every ``poll_s`` s and call ``on_study(study_uid)`` for each stable study.

        Runs until ``stop`` is set; starts after the newest change unless ``since`` is given;
        returns the last sequence number seen (persist it to resume without repeats). A PACS that is
        down is retried per the policy; after that the error is logged and polling goes on.
        """
        since = self.last_change() if since is None else since
        while not stop.is_set():
            try:
                uids, since = self.stable_studies(since)
            except PacsError as exc:
                log.error("change feed: %s", exc)
                uids = []
            for uid in uids:
                try:
                    on_study(uid)
                except Exception:
                    log.exception("on_study callback failed for a stable study")
            stop.wait(poll_s)
        return since
