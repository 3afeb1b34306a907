"""liu2020's Cox-CNN: the CEUS cine network (``hccrisk.nets.ceus.CeusNet``) with a 1-unit head whose output
is the log hazard, trained with the Cox partial likelihood, one model per treatment (R-RFA, R-SR).

The loss is written once here (``cox_partial_log_likelihood``, Breslow or Efron ties; tested against R
``coxph``). Training (``fit_cox``) is full-batch over the patients: the Cox likelihood compares every
patient with its risk set, so a step sees every training patient (one of its interleaved sub-cines,
drawn at random each step); an epoch has one step per sub-cine. A patient's log hazard is the mean over
its sub-cines (``predict_log_hazard``).
"""

from __future__ import annotations

import json
from time import perf_counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from hccrisk.errors import InputError
from hccrisk.nets.ceus import PHASES, CeusNet
from hccrisk.nets.engine import _log, _tensor, l1_penalty, resolve_device, seed_everything

Ties = Literal["breslow", "efron"]
#: liu2020: "Cox-CNN ... AP, PP and VP"; the ingested phase codes AP, PP, LP (LP cut at 180 s = VP).
COX_PHASES = PHASES


def cox_partial_log_likelihood(log_hazard: torch.Tensor, time: torch.Tensor, event: torch.Tensor,
                               ties: Ties = "breslow") -> torch.Tensor:
    """Cox partial log-likelihood of ``log_hazard`` (n,) for survival ``time`` (n,) and ``event`` (n,, 1/0).

    Equals R ``coxph(Surv(time, event) ~ offset(log_hazard), ties = ties)$loglik`` (tested). Breslow:
    sum over events of eta_i - log sum_{t_j >= t_i} exp(eta_j). Efron: at a time with d tied events of
    summed risk D, the l-th (l = 0..d-1) term's denominator is S - (l / d) D. Differentiable in
    ``log_hazard``; a common shift cancels (subtracted for numerical safety). Returns a 0-dim tensor
    (0 when there is no event).
    """
    if ties not in ("breslow", "efron"):
        raise InputError("ties", f"must be 'breslow' or 'efron', got {ties!r}")
    eta = log_hazard.reshape(-1)
    t = torch.as_tensor(time, dtype=eta.dtype, device=eta.device).reshape(-1)
    e = torch.as_tensor(event, device=eta.device).reshape(-1).bool()
    if not (eta.numel() == t.numel() == e.numel()):
        raise InputError("cox loss", f"log_hazard, time, event sizes differ: {eta.numel()}, {t.numel()}, {e.numel()}")
    if not bool(e.any()):
        return eta.sum() * 0.0
    order = torch.argsort(t, stable=True)
    eta, t, e = eta[order], t[order], e[order]
    eta = eta - eta.max().detach()
    r = torch.exp(eta)
    at_risk = torch.flip(torch.cumsum(torch.flip(r, [0]), 0), [0])  # sum over j >= i in time order
    first = torch.searchsorted(t, t, right=False)  # ties: the risk set starts at the first equal time
    s0 = at_risk[first][e]
    if ties == "efron":
        ev_t, ev_r = t[e], r[e]
        _, inverse, counts = torch.unique_consecutive(ev_t, return_inverse=True, return_counts=True)
        tied_risk = torch.zeros(counts.numel(), dtype=eta.dtype, device=eta.device).index_add(0, inverse, ev_r)
        start = torch.cumsum(counts, 0) - counts
        rank = torch.arange(ev_t.numel(), device=eta.device) - start[inverse]  # l = 0..d-1 within a time
        s0 = s0 - rank.to(eta.dtype) / counts[inverse].to(eta.dtype) * tied_risk[inverse]
    return (eta[e] - torch.log(s0)).sum()


def cox_loss(log_hazard: torch.Tensor, time: torch.Tensor, event: torch.Tensor, ties: Ties = "breslow") -> torch.Tensor:
    """Negative partial log-likelihood per event (the training loss; 0 without events)."""
    n_events = max(int(torch.as_tensor(event).sum()), 1)
    return -cox_partial_log_likelihood(log_hazard, time, event, ties) / n_events


def build_cox_cnn(phases: int = len(COX_PHASES), **kwargs) -> CeusNet:
    """The Cox-CNN: liu2025's CEUS trunk (separable convs + NetVLAD over frames and positions) with one
    output unit, the log hazard. (B, P, T, H, W) -> (B, 1)."""
    return CeusNet(phases=phases, num_classes=1, **kwargs)


@dataclass(frozen=True)
class CoxTrainConfig:
    """Recipe of ``fit_cox``. liu2020 does not state its optimiser in the main text; ours: Adam (lr 1e-3,
    weight decay 1e-3 as L2), 4 epochs of 4 full-batch steps (more over-fitted ~40 training patients: the
    training C rose and the validation C fell at 8 and 16 epochs, docs/papers/liu2020.md), Breslow ties,
    augmentation as liu2025."""

    epochs: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-3
    l1: float = 0.0
    ties: str = "breslow"
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.ties not in ("breslow", "efron"):
            raise InputError("ties", f"must be 'breslow' or 'efron', got {self.ties!r}")
        if self.epochs < 1 or self.lr <= 0:
            raise InputError("Cox-CNN recipe", f"need epochs >= 1 and lr > 0, got {self.epochs}, {self.lr}")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class CoxTrainResult:
    """``history``: one dict per epoch (epoch, loss = mean training loss per event, seconds so far);
    ``seconds``: wall time."""

    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _check_cases(cases: Mapping[str, np.ndarray], time: Mapping[str, float], event: Mapping[str, int]) -> list[str]:
    if not cases:
        raise InputError("Cox-CNN training", "no patients")
    ids = list(cases)
    missing = [p for p in ids if p not in time or p not in event]
    if missing:
        raise InputError("Cox-CNN training", f"no survival time/event for {len(missing)} patients, e.g. {missing[:3]}")
    shapes = {tuple(np.shape(cases[p])) for p in ids}
    if len(shapes) != 1 or len(next(iter(shapes))) != 5:
        raise InputError("Cox-CNN training", f"each patient needs (K, P, T, H, W) sub-cines of one shape, got {shapes}")
    if sum(int(event[p]) for p in ids) < 2:
        raise InputError("Cox-CNN training", "fewer than 2 events: the partial likelihood cannot be trained")
    return ids


def fit_cox(model: nn.Module, cases: Mapping[str, np.ndarray], time: Mapping[str, float], event: Mapping[str, int],
            config: CoxTrainConfig = CoxTrainConfig(), augment: Callable | None = None,
            out_dir: str | Path | None = None, progress: bool = True) -> CoxTrainResult:
    """Train ``model`` in place with the Cox partial likelihood.

    Args:
        cases: {patient: (K, P, T, H, W) float32 sub-cines} of the training patients only.
        time / event: {patient: months} / {patient: 1 event, 0 censored}.
        augment: MONAI dictionary transform on {"image": (P, T, H, W)} (``ceus_augmentation``).
        out_dir: ``metrics.csv`` and ``config.json`` go there (None: nowhere).
    Every step is one batch of all patients (the full risk set), each with one random sub-cine; an
    epoch has K steps. No early stopping: the validation cohort stays untouched (the paper's design).
    """
    from tqdm.auto import tqdm

    ids = _check_cases(cases, time, event)
    seed_everything(config.seed)
    if augment is not None and hasattr(augment, "set_random_state"):
        augment.set_random_state(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    t = torch.tensor([float(time[p]) for p in ids], device=device)
    e = torch.tensor([int(event[p]) for p in ids], device=device)
    k = int(np.shape(cases[ids[0]])[0])
    rng = np.random.default_rng(config.seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_json(), indent=1))
    result, start = CoxTrainResult(), perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc="Cox-CNN", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        losses = []
        for _ in range(k):
            pick = rng.integers(0, k, size=len(ids))
            items = [{"image": cases[p][j]} for p, j in zip(ids, pick)]
            if augment is not None:
                items = [augment(s) for s in items]
            x = torch.stack([_tensor(s["image"]) for s in items]).to(device)
            loss = cox_loss(model(x).reshape(-1), t, e, config.ties)  # type: ignore[arg-type]
            total = loss + config.l1 * l1_penalty(model) if config.l1 else loss
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            losses.append(float(loss.detach()))
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": round(perf_counter() - start, 3)}
        result.history.append(row)
        if out is not None:
            _log(out / "metrics.csv", row)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
    result.seconds = perf_counter() - start
    return result


def predict_log_hazard(model: nn.Module, cases: Mapping[str, np.ndarray], device: str | torch.device = "auto",
                       batch_size: int = 32) -> dict[str, float]:
    """{patient: log hazard}: the network output averaged over the patient's (K, P, T, H, W) sub-cines
    (eval mode, no augmentation)."""
    if not cases:
        raise InputError("Cox-CNN prediction", "no patients")
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    flat = [(p, x) for p, xs in cases.items() for x in np.asarray(xs)]
    sums: dict[str, list[float]] = {}
    with torch.no_grad():
        for i in range(0, len(flat), batch_size):
            chunk = flat[i:i + batch_size]
            out = model(torch.stack([_tensor(x) for _, x in chunk]).to(device)).reshape(-1).cpu().numpy()
            for (p, _), v in zip(chunk, out):
                sums.setdefault(p, []).append(float(v))
    return {p: float(np.mean(v)) for p, v in sums.items()}
