"""``hccrisk pacs``: send to, fetch from, and check a PACS over DICOMweb or DIMSE (docs/pacs.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from hccrisk.cli import app

pacs_app = typer.Typer(help="Send, fetch and check a PACS (DICOMweb URL or AE@host:port).",
                       no_args_is_help=True)
app.add_typer(pacs_app, name="pacs")

_ADDRESS_HELP = "http://host:port/dicom-web (DICOMweb) or AE@host:port (DIMSE)."


def _policy(retries: int, delay: float, max_delay: float):
    from hccrisk.pacs.retry import RetryPolicy


    return RetryPolicy(attempts=retries + 1, initial_delay_s=delay, max_delay_s=max_delay)


def _fail(exc: Exception, code: int) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code)


_RETRIES = typer.Option(4, "--retries", min=0, help="Retries after a transient failure (PACS down, "
                                                     "timeout, HTTP 5xx).")
_DELAY = typer.Option(1.0, "--retry-delay", min=0.0, help="First wait in seconds; doubles each retry.")
_MAX_DELAY = typer.Option(30.0, "--max-retry-delay", min=0.0, help="Longest wait between retries (s).")
_AET = typer.Option("HCCRISK", "--aet", help="Our (calling) AE title for DIMSE.")


@pacs_app.command("send")
def send_command(
    files: list[Path] = typer.Argument(..., help="DICOM files or folders (searched recursively)."),
    to: str = typer.Option(..., "--to", help=_ADDRESS_HELP),
    outbox: Path = typer.Option(None, "--outbox", help="Queue the files here first and remove them "
                                                       "once stored; on failure they stay for "
                                                       "`hccrisk pacs flush`."),
    retries: int = _RETRIES, retry_delay: float = _DELAY, max_retry_delay: float = _MAX_DELAY,
    aet: str = _AET,
) -> None:
    """Store FILES in the PACS (STOW-RS or C-STORE, transfer syntaxes kept)."""
    from hccrisk.errors import InputError
    from hccrisk.pacs import Outbox, PacsError, connect
    from hccrisk.pacs.files import dicom_files

    policy = _policy(retries, retry_delay, max_retry_delay)
    try:
        paths = dicom_files(files)
        if not paths:
            raise InputError(", ".join(map(str, files)), "no files to send")
        client_for = lambda dest: connect(dest, retry=policy, calling_ae_title=aet)  # noqa: E731
        if outbox is not None:
            Outbox(outbox, policy, client_for).send(paths, to)
        else:
            client_for(to).store(paths)
    except InputError as exc:
        _fail(exc, 2)
    except PacsError as exc:
        if outbox is not None:
            typer.echo(f"kept in outbox {outbox}; run `hccrisk pacs flush --outbox {outbox}`", err=True)
        _fail(exc, 1)
    typer.echo(f"stored {len(paths)} file(s) at {to}")


@pacs_app.command("flush")
def flush_command(
    outbox: Path = typer.Option(..., "--outbox", help="Outbox folder of `send --outbox`."),
    retries: int = _RETRIES, retry_delay: float = _DELAY, max_retry_delay: float = _MAX_DELAY,
    aet: str = _AET,
) -> None:
    """Deliver everything waiting in an outbox (each item to the PACS it was queued for)."""
    from hccrisk.pacs import Outbox, connect

    policy = _policy(retries, retry_delay, max_retry_delay)
    box = Outbox(outbox, policy, lambda dest: connect(dest, retry=policy, calling_ae_title=aet))
    delivered, errors = box.flush()
    typer.echo(f"delivered {delivered} item(s); {len(errors)} still queued")
    for exc in errors:
        typer.echo(f"error: {exc}", err=True)
    if errors:
        raise typer.Exit(1)


@pacs_app.command("fetch")
def fetch_command(
    study_uid: str = typer.Argument(..., help="StudyInstanceUID."),
    source: str = typer.Option(..., "--from", help=_ADDRESS_HELP),
    out: Path = typer.Option(..., "--out", help="Folder; files land in OUT/<study>/<series>/<sop>.dcm."),
    series_uid: str = typer.Option(None, "--series", help="Only this SeriesInstanceUID."),
    retries: int = _RETRIES, retry_delay: float = _DELAY, max_retry_delay: float = _MAX_DELAY,
    aet: str = _AET,
) -> None:
    """Retrieve a study (WADO-RS or C-GET) as stored, without transcoding."""
    from hccrisk.errors import InputError
    from hccrisk.pacs import PacsError, connect

    try:
        paths = connect(source, _policy(retries, retry_delay, max_retry_delay),
                        calling_ae_title=aet).retrieve(study_uid, out, series_uid)
    except InputError as exc:
        _fail(exc, 2)
    except PacsError as exc:
        _fail(exc, 1)
    typer.echo(f"fetched {len(paths)} file(s) into {out / study_uid}")


@pacs_app.command("echo")
def echo_command(
    address: str = typer.Argument(..., help=_ADDRESS_HELP),
    retries: int = typer.Option(0, "--retries", min=0, help="Retries after a transient failure."),
    aet: str = _AET,
) -> None:
    """Check that the PACS answers (C-ECHO, or a QIDO-RS query for DICOMweb)."""
    from hccrisk.errors import InputError
    from hccrisk.pacs import PacsError, connect

    try:
        connect(address, _policy(retries, 1.0, 30.0), calling_ae_title=aet).echo()
    except InputError as exc:
        _fail(exc, 2)
    except PacsError as exc:
        _fail(exc, 1)
    typer.echo(f"{address}: OK")


@pacs_app.command("listen")
def listen_command(
    out: Path = typer.Option(..., "--out", help="Received studies go to OUT/<study>/<series>/<sop>.dcm."),
    port: int = typer.Option(11112, "--port", min=0, max=65535, help="TCP port (0: any free port)."),
    aet: str = typer.Option("HCCRISK", "--aet", help="Our AE title (the PACS's C-MOVE destination)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: all)."),
    stable: float = typer.Option(5.0, "--stable", min=0.0,
                                 help="Quiet seconds after the sender's association ends before a "
                                      "study counts as complete."),
) -> None:
    """Run a storage SCP until Ctrl-C; prints one line per complete study."""
    import time

    from hccrisk.pacs import PacsError
    from hccrisk.pacs.scp import StorageSCP

    def announce(study) -> None:
        typer.echo(f"study {study.study_uid}: {len(study.files)} file(s) from {study.calling_ae_title} "
                   f"in {study.folder}")

    try:
        scp = StorageSCP(out, aet, port, host, on_study=announce, stable_s=stable).start()
    except PacsError as exc:
        _fail(exc, 1)
    typer.echo(f"listening as {scp.address}; Ctrl-C stops")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        scp.stop()
