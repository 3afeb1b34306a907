"""Start and stop a local Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) with hccrisk's config.

For tests and for trying the stack on a laptop::

    python -m hccrisk.pacs.orthanc_server --storage ./orthanc-data --http-port 8042 --dicom-port 4242

The configuration is ``deploy/orthanc/orthanc.json`` with the per-run keys filled in (see
``deploy/orthanc/README.md``). Orthanc listens on every interface for DICOM (1.10 cannot bind one
address) but refuses HTTP from other machines (``RemoteAccessAllowed: false``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import requests

from hccrisk.errors import HccriskError, InputError
from hccrisk.log import get_logger
from hccrisk.pacs.errors import PacsError

log = get_logger(__name__)

ORTHANC_BINARY = os.environ.get("HCCRISK_ORTHANC_BINARY", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = os.environ.get("HCCRISK_ORTHANC_DICOMWEB_PLUGIN",
                                 "/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
TEMPLATE = Path(os.environ.get("HCCRISK_ORTHANC_TEMPLATE",
                               Path(__file__).resolve().parents[2] / "deploy" / "orthanc" / "orthanc.json"))


class _PortTaken(Exception):
    """Orthanc exited because a port was taken."""


#: Ports handed out by free_port: below Linux's ephemeral range (32768-60999), so an outgoing connection's
#: local port cannot take a listening port between the moment it is chosen and the moment it is bound.
LISTEN_PORTS = range(20000, 32000)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing uses right now, outside the ephemeral range (a random one that binds)."""
    import random

    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.choice(LISTEN_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free TCP port on {host} in {LISTEN_PORTS.start}-{LISTEN_PORTS.stop - 1}")


class OrthancServer:
    """One Orthanc process on this machine.

    ``storage``: folder for the database and files (default: a new temporary folder, deleted on
    :meth:`stop` unless ``keep_storage``). Ports ``0`` are picked free at the first :meth:`start`
    and kept for restarts, so clients configured once keep working after a restart.
    ``scp_ae_title``/``scp_port``: the modality Orthanc routes studies to (C-MOVE destination
    ``scp_ae_title``); the same AE title may also query and retrieve (C-FIND/C-GET/C-MOVE).
    ``stable_age_s``: seconds without a new instance before Orthanc calls a study stable.
    """

    def __init__(self, storage: Path | None = None, http_port: int = 0, dicom_port: int = 0,
                 ae_title: str = "ORTHANC", scp_ae_title: str = "HCCRISK", scp_host: str = "127.0.0.1",
                 scp_port: int = 11112, stable_age_s: int = 60, keep_storage: bool = False,
                 template: Path = TEMPLATE):
        self._own_storage = storage is None
        self.storage = Path(storage) if storage else Path(tempfile.mkdtemp(prefix="hccrisk-orthanc-"))
        self.keep_storage = keep_storage or not self._own_storage
        self.http_port = http_port
        self.dicom_port = dicom_port
        self.ae_title = ae_title
        self.scp = (scp_ae_title, scp_host, scp_port)
        self.stable_age_s = stable_age_s
        self.template = Path(template)
        self.name = f"hccrisk-orthanc-{uuid.uuid4().hex[:8]}"
        self._ports_fixed = bool(http_port and dicom_port)
        self._process: subprocess.Popen | None = None
        self._lock = None
        self.http_auth: tuple[str, str] | None = None

    # -- addresses ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The REST root, e.g. ``http://127.0.0.1:8042``."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def dimse_address(self) -> str:
        """``AE@127.0.0.1:port``, as the CLI takes it."""
        return f"{self.ae_title}@127.0.0.1:{self.dicom_port}"

    @property
    def config_path(self) -> Path:
        return self.storage / "orthanc.json"

    @property
    def log_path(self) -> Path:
        return self.storage / "orthanc.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- configuration --------------------------------------------------------------------------
    def config(self) -> dict:
        """The template with this run's keys filled in."""
        if not self.template.is_file():
            raise InputError(self.template, "Orthanc configuration template not found "
                                            "(set HCCRISK_ORTHANC_TEMPLATE)")
        try:
            config = json.loads(self.template.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(self.template, f"not valid JSON ({exc})") from None
        aet, host, port = self.scp
        config.update(Name=self.name, HttpPort=self.http_port, DicomPort=self.dicom_port,
                      DicomAet=self.ae_title,
                      StorageDirectory=str(self.storage / "db"), IndexDirectory=str(self.storage / "db"),
                      StableAge=self.stable_age_s, Plugins=[DICOMWEB_PLUGIN])
        modalities = dict(config.get("DicomModalities", {}))
        entry = dict(modalities.get("hccrisk", {}))
        entry.update(AET=aet, Host=host, Port=port)
        modalities["hccrisk"] = entry
        config["DicomModalities"] = modalities
        return config

    # -- life cycle -----------------------------------------------------------------------------
    def start(self, timeout_s: float = 60.0) -> "OrthancServer":
        """Write the config, start Orthanc, and wait until REST, DICOMweb and DICOM answer."""
        if self.running:
            return self
        for binary in (ORTHANC_BINARY, DICOMWEB_PLUGIN):
            if not Path(binary).exists():
                raise InputError(binary, "not found: install the Debian packages orthanc and "
                                         "orthanc-dicomweb")
        # Ports picked here may be taken by another process before Orthanc binds them (other
        # engineers' test runs): then Orthanc exits and we pick again, at most three times.
        auto_ports = not (self.http_port and self.dicom_port)
        for attempt in range(3 if auto_ports else 1):
            if auto_ports and (attempt or not self._ports_fixed):
                self.http_port, self.dicom_port = free_port(), free_port()
            try:
                self._launch(timeout_s)
                break
            except _PortTaken:
                if attempt == (2 if auto_ports else 0):
                    raise PacsError(self.url, f"Orthanc could not bind its ports:\n{self.log_tail()}")
        self._ports_fixed = True  # a restart keeps the ports, so configured clients keep working
        log.info("Orthanc ready: REST %s, DICOMweb %s, DIMSE %s", self.url, self.dicomweb_url,
                 self.dimse_address)
        return self

    def _lock_storage(self) -> None:
        # Orthanc 1.10 does not refuse a storage folder another Orthanc is using; two would corrupt it
        if self._lock is not None:
            return
        self.storage.mkdir(parents=True, exist_ok=True)
        lock = open(self.storage / "orthanc.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise PacsError(self.url, f"storage folder {self.storage} is in use by another Orthanc "
                                      "started by hccrisk (stop that one first)") from None
        self._lock = lock

    def _unlock_storage(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None

    def _launch(self, timeout_s: float) -> None:
        self._lock_storage()
        config = self.config()
        users = config.get("RegisteredUsers") or {}
        # a template with authentication on: the readiness checks log in as its first user
        self.http_auth = (next(iter(users.items()))
                          if config.get("AuthenticationEnabled") and users else None)
        self.config_path.write_text(json.dumps(config, indent=2))
        log_file = open(self.log_path, "ab")
        try:
            self._process = subprocess.Popen([ORTHANC_BINARY, str(self.config_path)], stdout=log_file,
                                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log_file.close()  # the child holds its own descriptor
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_tail()
                self._process = None
                self._unlock_storage()
                if "address already in use" in tail.lower() or "cannot bind" in tail.lower():
                    raise _PortTaken()
                if "database is locked" in tail:
                    raise PacsError(self.url, f"storage folder {self.storage} is in use by another "
                                              f"Orthanc (stop that one first)")
                raise PacsError(self.url, f"Orthanc exited at start:\n{tail}")
            try:
                # the name is unique per server object: a different server on a stolen port fails it
                system = requests.get(f"{self.url}/system", timeout=2, auth=self.http_auth).json()
                if system.get("Name") != self.name:
                    raise ValueError("another server answers on this port")
                plugins = requests.get(f"{self.url}/plugins", timeout=2, auth=self.http_auth).json()
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=2):
                    pass
                if "dicom-web" not in plugins:
                    self.stop()
                    raise PacsError(self.url, f"the DICOMweb plugin did not load:\n{self.log_tail()}")
                return
            except (requests.RequestException, OSError, ValueError):
                time.sleep(0.2)
        self.stop()
        raise PacsError(self.url, f"Orthanc not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop Orthanc (SIGTERM, then SIGKILL after ``timeout_s``); storage stays for a restart."""
        if self._process is None:
            self._unlock_storage()
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("Orthanc did not stop in %.0f s; killing it", timeout_s)
                self._process.kill()
                self._process.wait()
        self._process = None
        self._unlock_storage()

    def close(self) -> None:
        """Stop, and delete the storage folder if this object made it."""
        self.stop()
        if not self.keep_storage:
            shutil.rmtree(self.storage, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "OrthancServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run Orthanc in the foreground with hccrisk's configuration until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hccrisk.pacs.orthanc_server",
                                     description=main.__doc__)
    parser.add_argument("--storage", type=Path, required=True, help="database and files folder")
    parser.add_argument("--http-port", type=int, default=8042)
    parser.add_argument("--dicom-port", type=int, default=4242)
    parser.add_argument("--aet", default="ORTHANC", help="Orthanc's AE title")
    parser.add_argument("--scp-aet", default="HCCRISK", help="AE title of the hccrisk storage SCP")
    parser.add_argument("--scp-port", type=int, default=11112, help="port of the hccrisk storage SCP")
    parser.add_argument("--stable-age", type=int, default=60, help="seconds until a study is stable")
    args = parser.parse_args(argv)
    server = OrthancServer(args.storage, args.http_port, args.dicom_port, args.aet, args.scp_aet,
                           "127.0.0.1", args.scp_port, args.stable_age, keep_storage=True)
    signal.signal(signal.SIGTERM, _interrupt)  # systemd / kill stop Orthanc as cleanly as Ctrl-C
    try:
        server.start()
    except HccriskError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"Orthanc running (log {server.log_path})\n  REST/explorer: {server.url}/app/explorer.html\n"
          f"  DICOMweb:      {server.dicomweb_url}\n  DIMSE:         {server.dimse_address}\n"
          f"  routes to:     {args.scp_aet}@127.0.0.1:{args.scp_port}\nCtrl-C stops it.", flush=True)
    try:
        while server.running:
            time.sleep(1)
        print(f"Orthanc exited:\n{server.log_tail()}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
