"""An on-disk outbox: results wait in a folder until the PACS has stored them, then are removed.

Layout: ``OUTBOX/<item>/files/...`` plus ``OUTBOX/<item>/item.json`` (destination, file names,
time queued, tries, last error). An item is created complete (written to a hidden temporary folder,
then renamed), so a crash never leaves half an item; it is deleted only after every file was stored.
Items are delivered oldest first; one that fails stays for the next :meth:`Outbox.flush`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from hccrisk.errors import InputError
from hccrisk.log import get_logger
from hccrisk.pacs.client import PacsClient, connect
from hccrisk.pacs.errors import PacsError
from hccrisk.pacs.retry import RetryPolicy

log = get_logger(__name__)


@dataclass(frozen=True)
class OutboxItem:
    """One queued delivery: its folder, destination address and files."""

    folder: Path
    destination: str
    files: tuple[Path, ...]
    queued_at: float
    tries: int
    last_error: str | None


class Outbox:
    """The outbox folder ``root``; ``client_for(destination)`` makes the client (default
    :func:`hccrisk.pacs.client.connect` with ``retry``)."""

    def __init__(self, root: Path, retry: RetryPolicy = RetryPolicy(),
                 client_for: Callable[[str], PacsClient] | None = None):
        self.root = Path(root)
        self.retry = retry
        self._client_for = client_for or (lambda dest: connect(dest, retry=self.retry))

    def put(self, files: Sequence[Path], destination: str) -> OutboxItem:
        """Copy ``files`` into a new item for ``destination``; the originals are not touched."""
        from hccrisk.pacs.address import parse_address

        parse_address(destination)  # a malformed address fails now, not at delivery
        files = [Path(f) for f in files]
        if not files:
            raise InputError(self.root, "nothing to queue: no files given")
        for f in files:
            if not f.is_file():
                raise InputError(f, "not a file; cannot queue it for the PACS")
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".incoming-"))
        (tmp / "files").mkdir()
        names = [f"{i:05d}-{f.name}" for i, f in enumerate(files)]  # unique even for equal names
        for f, target in zip(files, names):
            shutil.copy2(f, tmp / "files" / target)
        meta = {"destination": destination, "files": names, "queued_at": time.time(), "tries": 0,
                "last_error": None}
        (tmp / "item.json").write_text(json.dumps(meta, indent=1))
        os.replace(tmp, self.root / name)
        return self._load(self.root / name)

    def items(self) -> list[OutboxItem]:
        """Queued items, oldest first."""
        if not self.root.is_dir():
            return []
        return [self._load(d) for d in sorted(self.root.iterdir())
                if d.is_dir() and not d.name.startswith(".") and (d / "item.json").is_file()]

    def _load(self, folder: Path) -> OutboxItem:
        meta = json.loads((folder / "item.json").read_text())
        return OutboxItem(folder, meta["destination"], tuple(folder / "files" / n for n in meta["files"]),
                          meta["queued_at"], meta["tries"], meta["last_error"])

    def deliver(self, item: OutboxItem) -> None:
        """Store one item (with the client's retries); on success remove it, else record the error."""
        try:
            self._client_for(item.destination).store(list(item.files))
        except PacsError as exc:
            try:
                meta = json.loads((item.folder / "item.json").read_text())
                meta.update(tries=meta["tries"] + 1, last_error=str(exc))
                (item.folder / "item.json").write_text(json.dumps(meta, indent=1))
            except FileNotFoundError:  # another flusher delivered it meanwhile
                pass
            raise
        shutil.rmtree(item.folder, ignore_errors=True)  # ignore: another flusher may have removed it
        log.info("outbox: delivered %d file(s) to %s", len(item.files), item.destination)

    def flush(self) -> tuple[int, list[PacsError]]:
        """Try every item once (each with the retry policy); returns (delivered, errors)."""
        delivered, errors = 0, []
        for item in self.items():
            try:
                self.deliver(item)
                delivered += 1
            except PacsError as exc:
                log.warning("outbox: %s stays queued (%s)", item.folder.name, exc)
                errors.append(exc)
        return delivered, errors

    def send(self, files: Sequence[Path], destination: str) -> OutboxItem:
        """Queue ``files`` and try to deliver them now; returns the item (gone from disk if stored).

        Raises the :class:`PacsError` when delivery failed after the retries; the files stay queued.
        """
        item = self.put(files, destination)
        self.deliver(item)
        return item
