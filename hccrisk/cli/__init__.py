"""The ``hccrisk`` command: one typer app, one module per subcommand group."""

from __future__ import annotations

import typer

from hccrisk import __version__

app = typer.Typer(
    name="hccrisk",
    help="Early recurrence and survival of HCC from contrast imaging: synthetic cohorts, ingest, "
    "ROIs, radiomics, networks, statistics and reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    from hccrisk.log import configure

    configure(verbose)


@app.command()
def version() -> None:
    """Print the hccrisk version."""
    typer.echo(__version__)


def _register() -> None:
    # Each subcommand module adds its commands to `app`; imported lazily-safe (modules import heavy
    # libraries inside their functions so `hccrisk --help` stays fast).
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def main() -> None:
    _register()
    app()
