"""``hccrisk reproduce PAPER``: one command from a cohort folder to the paper's report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from hccrisk.cli import app


@app.command("reproduce")
def reproduce_command(
    paper: str = typer.Argument(..., help="Paper key: liu2025, huang2022, zhao2024, liu2020 or chen2025 "
                                           "(docs/reproduce.md)."),
    cohort: Path = typer.Option(..., "--cohort", help="Cohort folder (clinical.csv, outcomes.csv, dicom/, rois/)."),
    out: Path = typer.Option(..., "--out", help="Output folder (report.html, tables/, figures/, work/)."),
    ingest: Optional[Path] = typer.Option(None, "--ingest", help="An existing ingest folder (default: OUT/ingest, "
                                          "ingested when missing)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split, the CV folds and the classifiers."),
    workers: int = typer.Option(0, "--workers", min=0, help="Parallel processes (0: all cores)."),
    no_deep: bool = typer.Option(False, "--no-deep", help="zhao2024 only: skip the ResNet and DLRCR arms."),
) -> None:
    """Reproduce a paper's analysis on a cohort and write its report."""
    from hccrisk.errors import HccriskError, InputError
    from hccrisk.reproduce import runner

    t0 = time.perf_counter()
    try:
        if no_deep and paper != "zhao2024":
            raise InputError("--no-deep", f"applies to zhao2024 only, not {paper}")
        extra = {"deep": False} if no_deep else {}  # only zhao2024's run() takes it
        path = runner(paper)(cohort, out, ingest_dir=ingest, seed=seed, workers=workers or None, **extra)
    except HccriskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"done in {time.perf_counter() - t0:.0f} s: {path}")
