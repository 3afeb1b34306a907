"""``hccrisk ingest``: DICOM folder -> per-patient CEUS timelines and MRI volumes, manifest, problems."""

from __future__ import annotations

from pathlib import Path

import typer

from hccrisk.cli import app


@app.command("ingest")
def ingest_command(
    dicom_dir: Path = typer.Argument(..., help="Folder (any layout) or file with the DICOM studies."),
    out: Path = typer.Option(..., "--out", help="Output folder (per-patient folders, manifest.csv, "
                                                "problems.csv)."),
    injection_time: str = typer.Option(None, "--injection-time",
                                       help="CEUS injection: clock time HH:MM:SS[.f] (date of the "
                                            "first clip), offset from the first frame (e.g. -4.5s), or "
                                            "a CSV with columns patient_id, injection_time. Default: "
                                            "ContrastBolusStartTime, else the first frame."),
    contrast_region: str = typer.Option("auto", "--contrast-region",
                                        help="Dual display: auto (largest rise after injection), "
                                             "left, right, or N (0-based item of the Sequence of "
                                             "Ultrasound Regions)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Parallel patients (0: all cores)."),
    force: bool = typer.Option(False, "--force", help="Redo patients already done."),
) -> None:
    """Ingest every patient under DICOM_DIR (docs/ingest.md)."""
    from hccrisk.errors import InputError
    from hccrisk.ingest.pipeline import IngestOptions, ingest
    from hccrisk.preprocess.ceus import parse_injection, read_injection_table

    try:
        region = contrast_region.strip().lower()
        if region not in ("auto", "left", "right") and not region.isdigit():
            raise InputError("--contrast-region", f"'{contrast_region}' is not auto, left, right or a "
                                                  "region number")
        single, table = None, {}
        if injection_time and injection_time.lower().endswith(".csv"):
            table = read_injection_table(injection_time)
        elif injection_time:
            single = parse_injection(injection_time)
        options = IngestOptions(injection=single, contrast_region=region, injection_by_patient=table)
        result = ingest(dicom_dir, out, options, workers=workers or None, force=force)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{result.n_patients} patients: {result.n_done} ingested, {result.n_skipped} already done, "
               f"{result.n_failed} failed; {result.n_problems} problems in {result.problems_path}")
    if result.n_patients and result.n_done + result.n_skipped == 0:
        raise typer.Exit(1)
