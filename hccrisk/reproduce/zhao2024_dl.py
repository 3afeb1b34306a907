"""zhao2024 (seed 002), deep-learning arms: the multi-phase ResNet-10 / 18 / 34 on the 3 max-area tumour
slices x 3 phases, and DLRCR (the best ResNet's features + the selected radiomics, as their LASSO
combination the Rad score, + the CR predictors fused in the FC, trained jointly). Called by ``hccrisk.reproduce.zhao2024.analyse`` on the
same split as the radiomics arm; every network sees the training cohort only (early stopping on an
inner 20% of it). docs/papers/zhao2024.md lists the CPU choices against the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hccrisk.log import get_logger
from hccrisk.nets.engine import TrainConfig
from hccrisk.nets.mri import RESNETS
from hccrisk.nets.resnet_train import ZHAO_CONFIG, TrainedNet
from hccrisk.reproduce.common import performance_row
from hccrisk.reproduce.zhao2024_parallel import PendingArms, network_inputs, train_arms

log = get_logger(__name__)

LABELS = {"resnet10": "ResNet-10", "resnet18": "ResNet-18", "resnet34": "ResNet-34"}
DLRCR = "DLRCR"
#: Paired DeLong comparisons of the paper's Table 4 discussion (DLRCR against the others, DL vs radiomics).
COMPARISONS = ((DLRCR, "RCR"), (DLRCR, "CR"), (DLRCR, "DL"), ("DL", "Rad-LR"))


@dataclass
class DeepArms:
    """What the DL arms add to the report. ``resnets``: one row per depth (AUCs with CIs, epochs, tuning
    loss); ``best_depth``: the ResNet with the lowest tuning loss (inner split, never the validation
    cohort), the paper's "DL model" and DLRCR's backbone; ``tabular``: DLRCR's fused predictors."""

    resnets: pd.DataFrame
    best_depth: str
    tabular: tuple[str, ...]
    summaries: dict[str, dict] = field(default_factory=dict)
    nets: dict[str, TrainedNet] = field(default_factory=dict)
    tabular_table: pd.DataFrame | None = None  #: patients x DLRCR predictors (raw), for ``hccrisk train dlrcr``
    cam: dict | None = None  #: Score-CAM of the DL model on one validation patient (``score_cam_example``)


def dlrcr_tabular(features: pd.DataFrame, data: pd.DataFrame, radiomics: Sequence[str], clinical: Sequence[str],
                  categorical: Sequence[str]) -> pd.DataFrame:
    """DLRCR's tabular predictors (raw values; the net standardises them on the training patients): the
    ``radiomics`` columns of ``features`` (zhao2024: the Rad score) and the CR predictors, categorical ones as 0/1 dummies of their non-first
    levels."""
    parts = [features[list(radiomics)]]
    num = [c for c in clinical if c not in categorical]
    if num:
        parts.append(data[num].astype(float))
    cats = [c for c in clinical if c in categorical]
    if cats:
        parts.append(pd.get_dummies(data[cats].astype("category"), drop_first=True, dtype=float))
    return pd.concat(parts, axis=1)


def start_resnets(inputs: Mapping[str, np.ndarray], data: pd.DataFrame, endpoint: str, train: Sequence[str],
                  seed: int = 0, depths: Sequence[str] = RESNETS, config: TrainConfig = ZHAO_CONFIG,
                  workers: int | None = None) -> PendingArms:
    """Start training every ResNet depth on ``train`` on ``workers`` processes (None: all cores); they
    need nothing from the radiomics arm, so ``analyse`` fits that arm meanwhile. ``deep_arms`` collects."""
    labels = data[endpoint].astype(int)
    x = {p: inputs[p] for p in data.index}
    return PendingArms([{"inputs": x, "labels": labels, "train": list(train), "depth": d, "config": config,
                         "seed": seed} for d in depths], workers)


def deep_arms(resnets: PendingArms, data: pd.DataFrame, endpoint: str, train: Sequence[str], val: Sequence[str],
              tabular: pd.DataFrame, preds: pd.DataFrame) -> tuple[list[dict], DeepArms]:
    """Collect the ResNet depths (``start_resnets``), then train DLRCR on the best one; add their
    probabilities to ``preds`` (columns "ResNet-10", ..., "DL" = the best depth, "DLRCR"). Returns
    (performance rows, DeepArms)."""
    labels = data[endpoint].astype(int)
    ids = list(data.index)
    y_tr, y_va = labels.loc[list(train)].to_numpy(), labels.loc[list(val)].to_numpy()
    perf, rows, nets = [], [], {}

    def record(name: str, arm: TrainedNet) -> None:
        preds.loc[ids, name] = arm.probabilities.loc[ids].to_numpy()
        p_tr, p_va = preds.loc[list(train), name].to_numpy(float), preds.loc[list(val), name].to_numpy(float)
        perf.extend(performance_row(name, y_tr, p_tr, y_va, p_va))
        nets[name] = arm

    depths = [job["depth"] for job in resnets.jobs]
    for depth, arm in zip(depths, resnets.result()):
        record(LABELS[depth], arm)
        tr, va = (r for r in perf[-2:])
        rows.append({"model": LABELS[depth], "AUC training": tr["AUC"], "training low": tr["AUC low"],
                     "training high": tr["AUC high"], "AUC validation": va["AUC"], "validation low": va["AUC low"],
                     "validation high": va["AUC high"], "best epoch": arm.summary["best_epoch"],
                     "epochs run": arm.summary["epochs_run"], "tuning loss": arm.summary["best_tune_loss"],
                     "seconds": arm.summary["seconds"]})
    table = pd.DataFrame(rows)
    best = depths[int(np.argmin(table["tuning loss"].to_numpy()))]
    preds["DL"] = preds[LABELS[best]]
    perf.extend({**r, "model": "DL"} for r in perf if r["model"] == LABELS[best])
    job = {**resnets.jobs[depths.index(best)], "tabular": tabular.loc[ids]}
    record(DLRCR, train_arms([job], workers=1)[0])  # one net: here, no worker start-up
    summaries = {name: a.summary for name, a in nets.items()}
    log.info("zhao2024 DL arms: best depth %s; DLRCR on %d tabular predictors", best, tabular.shape[1])
    top = preds.loc[list(val), "DL"].astype(float).idxmax()
    cam = score_cam_example(nets[LABELS[best]], job["inputs"][top], str(top))
    return perf, DeepArms(table, best, tuple(map(str, tabular.columns)), summaries, nets, tabular.loc[ids], cam)


def score_cam_example(arm: TrainedNet, x: np.ndarray, patient: str, layer: str = "layer2") -> dict:
    """Score-CAM (the paper's Figure 4) of the DL model for one patient: per phase, the map of that phase's
    ResNet ``layer`` (``layer2``: 4 x 4 at 32 px input; layer4 would be 1 x 1) over the middle slice.
    Returns {"patient", "phases", "slices" (3, H, W) input values, "maps" (3, H, W) in [0, 1]}."""
    import torch

    from hccrisk.nets.cam import score_cam

    net, slices = arm.net.eval(), arm.net.slices
    xt = torch.as_tensor(x[None], dtype=torch.float32)
    maps = [score_cam(net, xt, f"phase_nets.{p}.{layer}")[0] for p in range(net.phases)]
    mid = [p * slices + slices // 2 for p in range(net.phases)]
    return {"patient": patient, "phases": ["AP", "PVP", "DP"][:net.phases], "slices": np.asarray(x)[mid],
            "maps": np.stack(maps)}


def delong_rows(preds: pd.DataFrame, cohorts: Mapping[str, tuple[list[str], np.ndarray]]) -> list[dict]:
    """Paired DeLong tests of ``COMPARISONS`` (models present in ``preds``) in each cohort."""
    from hccrisk import stats

    out = []
    for cohort, (rows, y) in cohorts.items():
        for a, b in COMPARISONS:
            if a in preds and b in preds:
                t = stats.delong_test(y, preds.loc[rows, a], preds.loc[rows, b])
                out.append({"cohort": cohort, "comparison": f"{a} vs {b}", "AUC a": t.auc_a, "AUC b": t.auc_b,
                            "z": t.z, "P": t.p_value})
    return out


def mri_inputs_for(paths, masks: Mapping[str, Mapping[str, Path]], size: int, progress: bool = True,
                   workers: int | None = None) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The networks' inputs of every patient with an AP tumour mask (observer 1, ingested grid), cached in
    ``work/mri-inputs``, cut on ``workers`` processes (None: all cores). Returns (inputs, failures)."""
    tumours = {pid: m["AP"] for pid, m in masks.items() if "AP" in m}
    inputs, failures = network_inputs(paths.ingest, tumours, paths.work / "mri-inputs", size, workers, progress)
    return inputs, pd.DataFrame(failures)
