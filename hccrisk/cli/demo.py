"""``hccrisk demo``: the main job on the built-in synthetic cohort (what ``make demo`` runs).

synthetic cohort -> ingest -> cohort overview report. Each step is skipped when its output is already
there (delete the folder, or pass --force, to start again)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from hccrisk.cli import app


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Output folder (cohort/, ingest/, report/)."),
    patients: int = typer.Option(120, "--patients", min=10, help="Synthetic cohort size."),
    seed: int = typer.Option(0, "--seed", help="Cohort seed (same seed, same results)."),
    signal: float = typer.Option(1.0, "--signal", min=0.0, help="Planted signal strength (0: none)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Parallel patients (0: all cores)."),
    force: bool = typer.Option(False, "--force", help="Redo every step."),
) -> None:
    """Synthesise a cohort, ingest its DICOM studies and write the cohort overview report."""
    import shutil

    from hccrisk.errors import HccriskError
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.report.cohort import cohort_overview
    from hccrisk.synth.cohort import generate_cohort

    cohort, ingested, report = out / "cohort", out / "ingest", out / "report"
    t0 = time.perf_counter()
    try:
        if force or not (cohort / "cohort.json").is_file():
            shutil.rmtree(cohort, ignore_errors=True)
            typer.echo(f"[1/3] synthetic cohort: {patients} patients, seed {seed}, signal {signal}")
            generate_cohort(cohort, patients, seed, signal, "both", "default", workers or None)
        else:
            typer.echo(f"[1/3] synthetic cohort already in {cohort}")
        typer.echo("[2/3] ingest")
        result = ingest(cohort / "dicom", ingested, workers=workers or None, force=force)
        typer.echo(f"      {result.n_done} ingested, {result.n_skipped} already done, {result.n_failed} "
                   f"failed, {result.n_problems} problems")
        typer.echo("[3/3] cohort overview report")
        path = cohort_overview(cohort, report, ingest_dir=ingested, seed=seed)
    except HccriskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"done in {time.perf_counter() - t0:.0f} s: {path}")
