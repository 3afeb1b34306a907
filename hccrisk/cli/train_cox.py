"""``hccrisk train coxcnn``: train liu2020's Cox-CNN of one treatment (R-RFA or R-SR) on an ingested cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from hccrisk.cli.train import train_app


@train_app.command("coxcnn")
def train_coxcnn(
    ingest: Path = typer.Option(..., "--ingest", help="Ingested folder (hccrisk ingest --out)."),
    cohort: Path = typer.Option(..., "--cohort", help="Cohort folder with clinical.csv (treatment), outcomes.csv "
                                "(pfs_time, pfs_event) and rois/."),
    out: Path = typer.Option(..., "--out", help="Output folder, e.g. bundles/coxcnn_rfa/models."),
    treatment: str = typer.Option(..., "--treatment", help="RFA or SR: the patients the model is trained on."),
    epochs: int = typer.Option(4, "--epochs", min=1, help="Epochs of K full-batch steps (K sub-cines)."),
    lr: float = typer.Option(1e-3, "--lr"),
    weight_decay: float = typer.Option(1e-3, "--weight-decay", min=0.0),
    ties: str = typer.Option("breslow", "--ties", help="Cox partial likelihood ties: breslow or efron."),
    frames: int = typer.Option(8, "--frames", min=1, help="Frames per phase in one sample."),
    splits: int = typer.Option(4, "--splits", min=1, help="Interleaved sub-cines (samples) per patient."),
    crop: int = typer.Option(64, "--crop", min=16, help="ROI crop size (pixels; multiple of 16)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the 2:1 split, the initial weights and the augmentation."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: torch's default; 1 on a "
                                "loaded shared machine)."),
) -> None:
    """Split the treatment's patients 2:1, train on the Cox partial likelihood, write model.pt, model.ts,
    predictions.csv (log hazard per patient) and summary.json (C-index per cohort)."""
    from hccrisk.errors import InputError
    from hccrisk.nets.cox import CoxTrainConfig
    from hccrisk.nets.cox_cohort import train_coxcnn_cohort

    if crop % 16:
        typer.echo(f"error: --crop {crop} is not a multiple of 16 (four 2x2 poolings)", err=True)
        raise typer.Exit(2)
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        config = CoxTrainConfig(epochs=epochs, lr=lr, weight_decay=weight_decay, ties=ties, seed=seed, device=device)
        s = train_coxcnn_cohort(ingest, cohort, out, treatment.upper(), seed, config, frames, splits, crop)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    c = ", ".join(f"{k} C-index {v:.3f}" for k, v in s["c_index"].items())
    typer.echo(f"{s['model']}: {s['parameters']} parameters; {s['n_training']} training / {s['n_validation']} "
               f"validation patients; {c} -> {out}")
