"""``hccrisk synth``: write a synthetic cohort (DICOM CEUS/MRI, ROIs, clinical, outcomes, truth)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from hccrisk.cli import app

DEFAULT_PATIENTS = 120  # = hccrisk.synth.cohort.DEFAULT_PATIENTS (kept here so --help stays fast)


@app.command("synth")
def synth_command(
    out: Path = typer.Option(..., "--out", help="New (or empty) output folder."),
    patients: int = typer.Option(DEFAULT_PATIENTS, "--patients", min=1, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", help="Cohort seed: same seed, same bytes."),
    signal: float = typer.Option(1.0, "--signal", min=0.0,
                                 help="Strength of the planted signal; 0 makes every outcome "
                                      "independent of images and clinical values."),
    modality: str = typer.Option("both", "--modality", help="ceus, mri or both."),
    size: str = typer.Option("default", "--size",
                             help="Size preset: default (a 120-patient cohort in about a minute); small "
                                  "(MRI of a smaller field of view, fewer and thicker slices: about half "
                                  "the ingest cost, for the CI science checks; --modality mri); realistic "
                                  "(full-resolution frames and slices, 15-25 fps: benchmarks, with "
                                  "--patients 1)."),
    realistic: bool = typer.Option(False, "--realistic", help="Same as --size realistic."),
    workers: int = typer.Option(0, "--workers", min=0, help="Parallel patients (0: all cores)."),
) -> None:
    """Generate a synthetic HCC cohort (docs/synthetic.md, layout in docs/architecture.md)."""
    from hccrisk.errors import InputError
    from hccrisk.synth.cohort import generate_cohort

    start = time.perf_counter()
    size, modality = size.strip().lower(), modality.strip().lower()
    try:
        if realistic and size not in ("default", "realistic"):
            raise InputError("--realistic", f"contradicts --size {size}")
        size = "realistic" if realistic else size
        meta = generate_cohort(out, patients, seed, signal, modality, size, workers or None)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    mri = "" if meta["mri_written"] or meta["modality"] == "ceus" else " (MRI writer unavailable: skipped)"
    typer.echo(f"{meta['n_patients']} patients, {meta['n_dicom_files']} DICOM files in {out}{mri} "
               f"[{time.perf_counter() - start:.1f} s]")
