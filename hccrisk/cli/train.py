"""``hccrisk train ceus``: train liu2025's CEUS-AP/-PP/-LP/-MP network on an ingested cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from hccrisk.cli import app

train_app = typer.Typer(help="Train the deep networks (docs/networks.md).", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("ceus")
def train_ceus(
    ingest: Path = typer.Option(..., "--ingest", help="Ingested folder (hccrisk ingest --out)."),
    cohort: Path = typer.Option(..., "--cohort", help="Cohort folder with outcomes.csv and rois/."),
    out: Path = typer.Option(..., "--out", help="Output folder, e.g. bundles/ceus_mp/models."),
    model: str = typer.Option("ceus_mp", "--model", help="ceus_ap, ceus_pp, ceus_lp or ceus_mp."),
    label: str = typer.Option("er_2y", "--label", help="Binary outcome column of outcomes.csv."),
    epochs: int = typer.Option(70, "--epochs", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=2),
    lr: float = typer.Option(1e-3, "--lr"),
    patience: int = typer.Option(15, "--patience", min=0, help="Early-stopping patience (0: off)."),
    n_train: int = typer.Option(0, "--n-train", min=0, help="Training patients (0: 75/115 of the cohort)."),
    frames: int = typer.Option(8, "--frames", min=1, help="Frames per phase in one sample."),
    splits: int = typer.Option(4, "--splits", min=1, help="Interleaved sub-cines (samples) per patient."),
    crop: int = typer.Option(64, "--crop", min=16, help="ROI crop size (pixels; multiple of 16)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, "--threads", min=0,
                                help="torch CPU threads (0: torch's default). On a shared, loaded machine 1 "
                                     "can be several times faster than oversubscribed cores."),
) -> None:
    """Train, early-stop on validation loss, write model.pt, model.ts, predictions.csv, metrics."""
    from hccrisk.errors import InputError
    from hccrisk.nets.cohort import train_ceus_cohort
    from hccrisk.nets.engine import TrainConfig

    if crop % 16:
        typer.echo(f"error: --crop {crop} is not a multiple of 16 (four 2x2 poolings)", err=True)
        raise typer.Exit(2)
    if threads:
        import torch

        torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed, device=device)
    try:
        s = train_ceus_cohort(ingest, cohort, out, model, label, n_train or None, seed, config, frames, splits, crop)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    auc = ", ".join(f"{k} AUC {v:.3f}" for k, v in s["auc"].items() if v is not None)
    typer.echo(f"{s['model']}: {s['parameters']} parameters; {s['n_training']} training / {s['n_validation']} "
               f"validation patients; best epoch {s['best_epoch']} of {s['epochs_run']}; {auc}; "
               f"{s['seconds']:.0f} s -> {out}")
