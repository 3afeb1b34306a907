"""``hccrisk train resnet`` / ``hccrisk train dlrcr``: zhao2024's multi-phase ResNet-10/18/34 and the DLRCR
fusion net on an ingested MRI cohort (docs/papers/zhao2024.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hccrisk.cli.train import train_app


def _train(ingest: Path, cohort: Path, out: Path, depth: str, label: str, tabular: Optional[Path], size: int,
           epochs: int, batch_size: int, lr: float, patience: int, seed: int, device: str, threads: int) -> None:
    from dataclasses import replace

    from hccrisk.errors import InputError
    from hccrisk.nets.resnet_train import ZHAO_CONFIG, train_mri_cohort

    if threads:
        import torch

        torch.set_num_threads(threads)
    config = replace(ZHAO_CONFIG, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience, seed=seed,
                     device=device)
    try:
        s = train_mri_cohort(ingest, cohort, out, depth, label, tabular, size, seed, config)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    auc = s["validation_auc"]
    typer.echo(f"{depth}{' DLRCR' if tabular else ''}: {s['n_training']} training ({s['n_fit']} fitted, "
               f"{s['n_tune']} for early stopping) / {s['n_validation']} validation patients; best epoch "
               f"{s['best_epoch']} of {s['epochs_run']}; validation AUC "
               f"{'n/a' if auc is None else f'{auc:.3f}'}; {s['seconds']:.0f} s -> {out}")


_INGEST = typer.Option(..., "--ingest", help="Ingested folder (hccrisk ingest --out).")
_COHORT = typer.Option(..., "--cohort", help="Cohort folder with outcomes.csv and rois/observer1/.")
_LABEL = typer.Option("er_2y", "--label", help="Binary outcome column of outcomes.csv.")
_SIZE = typer.Option(32, "--size", min=16, help="Slice size in pixels (paper: 256; 32 is our CPU default).")
_EPOCHS = typer.Option(15, "--epochs", min=1)
_BATCH = typer.Option(16, "--batch-size", min=2)
_LR = typer.Option(1e-3, "--lr", help="SGD learning rate (paper: 1e-4 over 200 iterations on a GPU).")
_PATIENCE = typer.Option(5, "--patience", min=0, help="Early-stopping patience in epochs (0: off).")
_SEED = typer.Option(0, "--seed")
_DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda.")
_THREADS = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: torch's default; 1 on a loaded machine).")


@train_app.command("resnet")
def train_resnet(
    ingest: Path = _INGEST, cohort: Path = _COHORT,
    out: Path = typer.Option(..., "--out", help="Output folder, e.g. bundles/resnet_zhao2024/models."),
    depth: str = typer.Option("resnet10", "--depth", help="resnet10, resnet18 or resnet34."),
    label: str = _LABEL, size: int = _SIZE, epochs: int = _EPOCHS, batch_size: int = _BATCH, lr: float = _LR,
    patience: int = _PATIENCE, seed: int = _SEED, device: str = _DEVICE, threads: int = _THREADS,
) -> None:
    """Train the multi-phase ResNet (3 max-area slices x AP, PVP, DP); write model.pt, model.ts (TorchScript), predictions, metrics."""
    _train(ingest, cohort, out, depth, label, None, size, epochs, batch_size, lr, patience, seed, device, threads)


@train_app.command("dlrcr")
def train_dlrcr(
    ingest: Path = _INGEST, cohort: Path = _COHORT,
    tabular: Path = typer.Option(..., "--tabular", help="CSV: patient_id + the selected radiomics and clinical "
                                 "predictors (e.g. hccrisk reproduce zhao2024's tables/dlrcr_tabular.csv)."),
    out: Path = typer.Option(..., "--out", help="Output folder, e.g. bundles/dlrcr_zhao2024/models."),
    depth: str = typer.Option("resnet10", "--depth", help="The backbone: resnet10, resnet18 or resnet34."),
    label: str = _LABEL, size: int = _SIZE, epochs: int = _EPOCHS, batch_size: int = _BATCH, lr: float = _LR,
    patience: int = _PATIENCE, seed: int = _SEED, device: str = _DEVICE, threads: int = _THREADS,
) -> None:
    """Train DLRCR: ResNet features + radiomics + clinical predictors fused in the FC, trained jointly."""
    _train(ingest, cohort, out, depth, label, tabular, size, epochs, batch_size, lr, patience, seed, device, threads)
