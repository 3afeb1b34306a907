"""The small training engine shared by every network: seeded, deterministic on CPU, checkpoints, early
stopping on validation loss, a metrics log, and per-patient prediction.

A sample is a dict: ``image`` (array or tensor, the network's input without the batch axis), ``label``
(int class), ``patient`` (str: samples of one patient are averaged by ``predict``) and, for networks
fused with tabular predictors (DLRCR), ``tabular`` (1-D float array).
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hccrisk.errors import InputError


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation recipe; the defaults are liu2025's (SGD, momentum 0.9, batch 16, 70 epochs, lr 1e-3
    halved at epochs 15, 30, 55, cross-entropy + L1 + L2, early stopping on validation loss)."""

    epochs: int = 70
    batch_size: int = 16
    lr: float = 1e-3
    momentum: float = 0.9
    milestones: tuple[int, ...] = (15, 30, 55)
    gamma: float = 0.5
    l1: float = 1e-5  #: weight of sum |w| over conv / linear weights, added to the loss
    l2: float = 1e-4  #: SGD weight decay (= L2 penalty)
    patience: int = 15  #: epochs without a better validation loss before stopping; 0 = never stop early
    seed: int = 0
    device: str = "auto"  #: "auto" (CUDA when present), "cpu", "cuda"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What ``fit`` did: ``history`` one dict per epoch; ``best_epoch`` (1-based) whose weights the model
    holds on return; ``stopped_early``; ``seconds`` wall time."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = math.inf
    stopped_early: bool = False
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch. CPU kernels are deterministic for a fixed thread count already (the
    tests check bit-identical runs); on CUDA deterministic kernels are requested too. Not on CPU: there
    ``use_deterministic_algorithms`` turns off the oneDNN convolutions and makes training 3x slower."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _tensor(x) -> torch.Tensor:
    if hasattr(x, "as_tensor"):  # MONAI MetaTensor from the augmentation: drop the metadata
        x = x.as_tensor()
    return torch.as_tensor(x, dtype=torch.float32)


def _batch(samples: Sequence[dict], device: torch.device, augment: Callable | None = None) -> dict:
    items = [augment(s) if augment is not None else s for s in samples]
    out = {"image": torch.stack([_tensor(s["image"]) for s in items]).to(device)}
    if "label" in items[0]:
        out["label"] = torch.as_tensor([int(s["label"]) for s in items], dtype=torch.long, device=device)
    if "tabular" in items[0]:
        out["tabular"] = torch.stack([_tensor(s["tabular"]) for s in items]).to(device)
    return out


def _forward(model: nn.Module, batch: dict) -> torch.Tensor:
    return model(batch["image"], batch["tabular"]) if "tabular" in batch else model(batch["image"])


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of |w| over the weights of conv and linear layers (not biases, norms or centroids)."""
    terms = [m.weight.abs().sum() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear))]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def _check(samples: Sequence[dict], what: str) -> None:
    if not samples:
        raise InputError(what, "no samples")
    missing = [k for k in ("image", "label", "patient") if k not in samples[0]]
    if missing:
        raise InputError(what, f"samples lack {missing}")
    labels = {int(s["label"]) for s in samples}
    if not labels <= {0, 1}:
        raise InputError(what, f"labels must be 0/1, got {sorted(labels)}")


def evaluate(model: nn.Module, samples: Sequence[dict], batch_size: int = 16, device: str | torch.device = "auto") -> float:
    """Mean cross-entropy of ``samples`` (no augmentation, eval mode)."""
    device = resolve_device(device) if isinstance(device, str) else device
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(samples), batch_size):
            b = _batch(samples[i:i + batch_size], device)
            total += float(F.cross_entropy(_forward(model, b), b["label"], reduction="sum"))
    return total / len(samples)


def fit(model: nn.Module, train: Sequence[dict], val: Sequence[dict] | None = None, config: TrainConfig = TrainConfig(),
        augment: Callable | None = None, out_dir: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Train ``model`` in place; on return it holds the weights of the epoch with the lowest validation loss
    (the last epoch without ``val``).

    Args:
        train / val: samples (module docstring); split them by patient beforehand.
        augment: a MONAI dictionary transform applied to each training sample (``set_random_state`` is
            called with ``config.seed`` when it has one).
        out_dir: where ``metrics.csv``, ``config.json``, ``last.pt`` and ``best.pt`` go (None: nowhere).
        progress: tqdm bar over epochs.
    """
    from tqdm.auto import tqdm

    _check(train, "training samples")
    if val:
        _check(val, "validation samples")
    seed_everything(config.seed)
    if augment is not None and hasattr(augment, "set_random_state"):
        augment.set_random_state(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.l2)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(config.milestones), gamma=config.gamma)
    order_rng = torch.Generator().manual_seed(config.seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_json(), indent=1))
    result, best_state, waited, start = TrainResult(), None, 0, time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc="train", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train), generator=order_rng).tolist()
        running, seen = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            b = _batch([train[j] for j in order[i:i + config.batch_size]], device, augment)
            if len(b["label"]) < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                continue  # batch norm cannot train on one sample; happens only for a last odd sample
            ce = F.cross_entropy(_forward(model, b), b["label"])
            loss = ce + config.l1 * l1_penalty(model) if config.l1 else ce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += float(ce.detach()) * len(b["label"])
            seen += len(b["label"])
        lr = opt.param_groups[0]["lr"]
        sched.step()
        row = {"epoch": epoch, "lr": lr, "train_loss": running / max(seen, 1)}
        if val:
            row["val_loss"] = evaluate(model, val, config.batch_size, device)
        row["seconds"] = round(time.perf_counter() - start, 3)
        result.history.append(row)
        score = row.get("val_loss", row["train_loss"])
        improved = score < result.best_val_loss if val else True
        if improved:
            result.best_val_loss, result.best_epoch, waited = score, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
        if out is not None:
            _log(out / "metrics.csv", row)
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "epoch": epoch}, out / "last.pt")
            if improved:
                torch.save(best_state, out / "best.pt")
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith("loss")})
        if val and config.patience and waited >= config.patience:
            result.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - start
    return result


def _log(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def predict(model: nn.Module, samples: Sequence[dict], batch_size: int = 16, device: str | torch.device = "auto") -> dict[str, float]:
    """Per-patient probability of class 1: the mean of the softmax over that patient's samples.

    Returns:
        {patient: probability} in the order patients first appear.
    """
    if not samples:
        raise InputError("prediction samples", "no samples")
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    sums: dict[str, list[float]] = {}
    with torch.no_grad():
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            prob = torch.softmax(_forward(model, _batch(chunk, device)), 1)[:, 1].cpu().numpy()
            for s, p in zip(chunk, prob):
                sums.setdefault(str(s["patient"]), []).append(float(p))
    return {k: float(np.mean(v)) for k, v in sums.items()}
