"""``hccrisk train densenet``: chen2025's DenseNet-169 deep-feature network on an ingested MRI cohort
(docs/papers/chen2025.md); writes the weights of bundles/densenet_chen2025."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hccrisk.cli.train import train_app


@train_app.command("densenet")
def train_densenet(
    ingest: Path = typer.Option(..., "--ingest", help="Ingested folder (hccrisk ingest --out)."),
    cohort: Path = typer.Option(..., "--cohort", help="Cohort folder with outcomes.csv and rois/observer1/ liver masks."),
    out: Path = typer.Option(..., "--out", help="Output folder, e.g. bundles/densenet_chen2025/models."),
    label: str = typer.Option("er_6m", "--label", help="Binary outcome column of outcomes.csv."),
    size: int = typer.Option(128, "--size", min=32, help="Slice size in pixels (multiple of 32; the paper: ImageNet size)."),
    epochs: int = typer.Option(3, "--epochs", min=0, help="Epochs (paper: 50 on a GPU); 0 with --weights: no training."),
    batch_size: int = typer.Option(16, "--batch-size", min=2),
    lr: float = typer.Option(0.01, "--lr", help="SGD learning rate (the paper's), halved at the middle epoch."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Starting weights (a DenseNet-169 state dict "
                                           "with MONAI's names, e.g. converted ImageNet weights); never downloaded."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: torch's default; 1 on a loaded machine)."),
) -> None:
    """Train on the 7:3 training part (4 sequences x 3 max-area liver slices); write model.pt, model.ts,
    predictions.csv, summary.json."""
    from dataclasses import replace

    from hccrisk.errors import InputError
    from hccrisk.nets.deepfeatures import TRAIN_CONFIG, train_densenet_cohort

    if size % 32:
        typer.echo(f"error: --size {size} is not a multiple of 32 (DenseNet's five 2x downsamplings)", err=True)
        raise typer.Exit(2)
    if epochs == 0 and weights is None:
        typer.echo("error: --epochs 0 needs --weights", err=True)
        raise typer.Exit(2)
    if threads:
        import torch

        torch.set_num_threads(threads)
    config = replace(TRAIN_CONFIG, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                     milestones=(max(1, epochs // 2),))
    try:
        s = train_densenet_cohort(ingest, cohort, out, label, seed=seed, config=config, size=size, weights=weights)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"densenet169: {s['n_training']} training / {s['n_validation']} validation patients; "
               f"{s['epochs']} epochs; {s['seconds']:.0f} s -> {out}")
