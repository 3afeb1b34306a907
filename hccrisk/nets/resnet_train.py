"""Train zhao2024's multi-phase ResNet-10/18/34 and the DLRCR fusion net on ingested MRI cases: the
network inputs (cached), the MONAI augmentation, the tabular predictors' standardisation, and one
training run (inner early-stopping split of the training patients, per-patient probabilities).

Input of one patient: (9, size, size) float32, the 3 max-area tumour slices of AP, PVP, DP
(``hccrisk.roi.mri.tumour_slices``; ingested intensities, z-scored inside the body) stacked phase-major.
The paper resizes to 256 x 256; on CPU we use ``CPU_SIZE`` (docs/papers/zhao2024.md says why).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hccrisk.errors import HccriskError, InputError
from hccrisk.nets.engine import TrainConfig, fit, predict, seed_everything
from hccrisk.nets.mri import MultiPhaseResNet

log = logging.getLogger(__name__)

PHASES = ("AP", "PVP", "DP")
PAPER_SIZE = 256  #: zhao2024: slices resized to 256 x 256
CPU_SIZE = 32  #: our CPU default (the cropped tumour is ~30-60 px at 1 mm; 64 px costs 4x, see the docs)
#: CPU-affordable recipe: SGD momentum 0.9 as the paper; lr 1e-3 (paper 1e-4 with 200 iterations of batch
#: 64, on a GPU); early stopping on the inner tuning patients.
ZHAO_CONFIG = TrainConfig(epochs=15, batch_size=16, lr=1e-3, momentum=0.9, milestones=(), l1=0.0, l2=1e-4,
                          patience=5)
TUNE_FRACTION = 0.2  #: share of the training patients held out for early stopping


def case_input(patient_dir: str | Path, tumour: "object", size: int = CPU_SIZE) -> np.ndarray:
    """One patient's network input from its ingested volumes and AP tumour VOI (a SimpleITK image on the
    ingested grid, or the path of one): (9, size, size) float32."""
    from hccrisk.roi.mri import ingested_volumes, read_mask, tumour_slices

    mask = tumour if not isinstance(tumour, (str, Path)) else read_mask(tumour)
    arr, _ = tumour_slices(ingested_volumes(patient_dir, PHASES), mask, size=size)
    return arr.reshape((-1, size, size))


def observer_tumour(roi_dir: str | Path, patient_dir: str | Path):
    """An observer's AP tumour VOI (largest nodule) mapped to the patient's ingested grid."""
    from hccrisk.roi.mri import ingested_rois

    return ingested_rois(roi_dir, patient_dir, ("AP",), largest=True)["AP"]["tumour"]


def cohort_inputs(ingest_dir: str | Path, tumours: Mapping[str, str | Path], cache_dir: str | Path,
                  size: int = CPU_SIZE, progress: bool = True) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Every patient's input, cached as ``cache_dir/<patient>_<size>.npy`` (redone when the mask or an
    ingested volume is newer).

    Args:
        tumours: patient -> AP tumour VOI on the ingested grid (NIfTI path, e.g. from
            ``hccrisk.reproduce.common.ingested_tumour_masks``).
    Returns:
        ({patient: (9, size, size) float32}, failures as rows patient_id/problem: not an abort).
    """
    from tqdm.auto import tqdm

    from hccrisk.ingest.pipeline import patient_dir_name

    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    out, failures = {}, []
    for pid, mask in tqdm(tumours.items(), desc="MRI slices", unit="patient", disable=not progress):
        pdir = Path(ingest_dir) / patient_dir_name(pid)
        path = cache / f"{patient_dir_name(pid)}_{size}.npy"
        sources = [Path(mask)] + [pdir / "mri" / f"{ph}.nii.gz" for ph in PHASES]
        if path.is_file() and all(not s.is_file() or s.stat().st_mtime <= path.stat().st_mtime for s in sources):
            out[pid] = np.load(path)
            continue
        try:
            out[pid] = case_input(pdir, mask, size)
        except (HccriskError, RuntimeError) as exc:
            failures.append({"patient_id": pid, "problem": f"MRI network input: {exc}"})
            continue
        np.save(path, out[pid])
    return out, failures


def mri_augmentation(seed: int = 0, size: int = CPU_SIZE):
    """zhao2024's augmentation (rotation, scaling, flipping, shifting) as MONAI dictionary transforms on
    ``image`` (9, H, W); one random draw per sample for all slices and phases alike."""
    from monai.transforms import Compose, RandAffined, RandFlipd, ToTensord

    return Compose([
        ToTensord("image", track_meta=False),
        RandAffined("image", prob=0.8, rotate_range=np.deg2rad(15.0), scale_range=(0.1, 0.1),
                    translate_range=(0.08 * size, 0.08 * size), padding_mode="border"),
        RandFlipd("image", prob=0.5, spatial_axis=0),
        RandFlipd("image", prob=0.5, spatial_axis=1),
    ]).set_random_state(seed)


@dataclass(frozen=True)
class TabularScaler:
    """The DLRCR's tabular predictors: missing -> training median, then z-scored with the training mean
    and SD. ``columns`` in network order; saved next to the weights (``tabular.json``)."""

    columns: tuple[str, ...]
    median: tuple[float, ...]
    mean: tuple[float, ...]
    sd: tuple[float, ...]

    @classmethod
    def fit(cls, table: pd.DataFrame) -> "TabularScaler":
        x = table.astype(float)
        med = x.median()
        filled = x.fillna(med)
        sd = filled.std(ddof=0).replace(0.0, 1.0)
        return cls(tuple(map(str, x.columns)), tuple(med), tuple(filled.mean()), tuple(sd))

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """(patients, columns) -> (patients, n) float32."""
        missing = [c for c in self.columns if c not in table]
        if missing:
            raise InputError("tabular predictors", f"missing columns {missing}")
        x = table[list(self.columns)].astype(float).fillna(pd.Series(self.median, index=list(self.columns)))
        return ((x.to_numpy() - np.array(self.mean)) / np.array(self.sd)).astype(np.float32)

    def to_json(self) -> dict:
        return {"columns": list(self.columns), "median": list(self.median), "mean": list(self.mean), "sd": list(self.sd)}

    @classmethod
    def from_json(cls, d: Mapping) -> "TabularScaler":
        return cls(*(tuple(d[k]) for k in ("columns", "median", "mean", "sd")))


@dataclass
class TrainedNet:
    """One trained arm: the network (eval, CPU), each patient's probability of class 1, the patients it was
    fitted on / tuned on, the tabular scaler (DLRCR), and a JSON-able summary."""

    net: MultiPhaseResNet
    depth: str
    probabilities: pd.Series
    fit_ids: list[str]
    tune_ids: list[str]
    scaler: TabularScaler | None = None
    summary: dict = field(default_factory=dict)


def _warm_start_tabular(net: MultiPhaseResNet, x: np.ndarray, y: np.ndarray, seed: int) -> None:
    """Start the fusion FC's tabular weights at a (ridge) logistic regression on the tabular predictors, the
    DL inputs' weights at zero: joint training then starts from the RCR-like model and learns what the DL
    features add (from random weights, SGD at lr 1e-3 hardly moves the tabular part in ~100 iterations)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)
    with torch.no_grad():
        fc = net.fc
        fc.weight.zero_()
        half = torch.as_tensor(lr.coef_[0] / 2, dtype=fc.weight.dtype)
        fc.weight[1, -x.shape[1]:], fc.weight[0, -x.shape[1]:] = half, -half
        fc.bias[1], fc.bias[0] = float(lr.intercept_[0] / 2), float(-lr.intercept_[0] / 2)


def train_arm(inputs: Mapping[str, np.ndarray], labels: pd.Series, train_ids: Sequence[str], depth: str = "resnet10",
              config: TrainConfig = ZHAO_CONFIG, tabular: pd.DataFrame | None = None, seed: int = 0,
              out_dir: str | Path | None = None, progress: bool = True) -> TrainedNet:
    """Train one arm on ``train_ids`` and predict every patient of ``inputs``.

    ``TUNE_FRACTION`` of the training patients (stratified) are held out for early stopping, so the
    validation cohort is never seen. With ``tabular`` (patients x predictors, raw values) the net is DLRCR:
    the predictors are median-filled and z-scored on the training patients and fused in the FC.
    """
    from hccrisk.models.split import split_cohort

    train_ids = [p for p in train_ids if p in inputs]
    if tabular is not None and tabular.shape[1] == 0:
        tabular = None  # nothing to fuse (no radiomics or clinical predictor selected): the plain DL net
    frame = labels.loc[train_ids].astype(int).to_frame("label")
    if frame.label.nunique() < 2 or len(frame) < 10:
        raise InputError("training cohort", f"{len(frame)} patients with MRI inputs; need >= 10 of both classes")
    inner = split_cohort(frame, ratio=(1 - TUNE_FRACTION, TUNE_FRACTION), stratify="label", seed=seed)
    fit_ids, tune_ids = list(inner.train), list(inner.validation)
    scaler = TabularScaler.fit(tabular.loc[train_ids]) if tabular is not None else None
    tab = scaler.transform(tabular.reindex(list(inputs))) if scaler is not None else None
    row = {pid: i for i, pid in enumerate(inputs)}

    def samples(ids: Sequence[str], labelled: bool = True) -> list[dict]:
        out = []
        for pid in ids:
            s = {"image": inputs[pid], "patient": pid}
            if labelled:
                s["label"] = int(labels[pid])
            if tab is not None:
                s["tabular"] = tab[row[pid]]
            out.append(s)
        return out

    seed_everything(seed)
    net = MultiPhaseResNet(depth, phases=len(PHASES), tabular=0 if tab is None else tab.shape[1])
    if tab is not None:
        _warm_start_tabular(net, tab[[row[p] for p in fit_ids]], frame.loc[fit_ids, "label"].to_numpy(), seed)
    size = next(iter(inputs.values())).shape[-1]
    result = fit(net, samples(fit_ids), samples(tune_ids), config, augment=mri_augmentation(seed, size),
                 out_dir=out_dir, progress=progress)
    net.cpu().eval()
    probs = pd.Series(predict(net, samples(list(inputs), labelled=False), device="cpu")).reindex(list(inputs))
    summary = {"depth": depth, "dlrcr": tab is not None, "input_shape": list(next(iter(inputs.values())).shape),
               "n_fit": len(fit_ids), "n_tune": len(tune_ids), "best_epoch": result.best_epoch,
               "epochs_run": len(result.history), "best_tune_loss": result.best_val_loss,
               "stopped_early": result.stopped_early, "seconds": round(result.seconds, 1),
               "config": config.to_json()}
    log.info("%s%s: best epoch %d of %d, tuning loss %.4f, %.0f s", depth, " DLRCR" if tab is not None else "",
             result.best_epoch, len(result.history), result.best_val_loss, result.seconds)
    return TrainedNet(net, depth, probs, fit_ids, tune_ids, scaler, summary)


def save_arm(arm: TrainedNet, out_dir: str | Path, labels: pd.Series, train_ids: Sequence[str],
             input_shape: tuple[int, ...]) -> dict:
    """Write ``model.pt`` (state dict), ``model.ts`` (TorchScript; DLRCR's takes the scaled tabular
    predictors as its second input), ``tabular.json`` (DLRCR), ``predictions.csv`` (patient, cohort:
    fit / tune / validation, label, probability) and ``summary.json`` to ``out_dir``. ``input_shape``:
    one patient's image input (phases x slices, H, W)."""
    from hccrisk.nets.cohort import export_torchscript

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(arm.net.state_dict(), out / "model.pt")
    tabular = ((1, arm.net.tabular),) if arm.net.tabular else ()
    export_torchscript(arm.net, out / "model.ts", (1, *input_shape), *tabular)
    if arm.scaler is not None:
        (out / "tabular.json").write_text(json.dumps(arm.scaler.to_json(), indent=1))
    cohort = pd.Series("validation", index=arm.probabilities.index)
    cohort[cohort.index.isin(arm.fit_ids)] = "fit"
    cohort[cohort.index.isin(arm.tune_ids)] = "tune"
    pd.DataFrame({"patient": arm.probabilities.index, "cohort": cohort.to_numpy(),
                  "label": labels.reindex(arm.probabilities.index).to_numpy(),
                  "probability": arm.probabilities.to_numpy()}).to_csv(out / "predictions.csv", index=False)
    summary = {**arm.summary, "n_training": len(train_ids)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    return summary


def observer_inputs(ingest_dir: str | Path, roi_root: str | Path, patients: Sequence[str], cache_dir: str | Path,
                    size: int = CPU_SIZE, progress: bool = True) -> tuple[dict[str, np.ndarray], list[dict]]:
    """``cohort_inputs`` from an observer's ROI folder (``rois/observer<k>``): each patient's AP tumour VOI
    is mapped to the ingested grid first (kept as ``cache_dir/masks/<patient>_AP_tumour.nii.gz``)."""
    import SimpleITK as sitk

    from hccrisk.ingest.pipeline import patient_dir_name

    masks, failures = {}, []
    mask_dir = Path(cache_dir) / "masks"
    mask_dir.mkdir(parents=True, exist_ok=True)
    for pid in patients:
        path = mask_dir / f"{patient_dir_name(pid)}_AP_tumour.nii.gz"
        if not path.is_file():
            try:
                sitk.WriteImage(observer_tumour(Path(roi_root) / pid, Path(ingest_dir) / patient_dir_name(pid)),
                                str(path), useCompression=True)
            except (HccriskError, RuntimeError) as exc:
                failures.append({"patient_id": pid, "problem": f"AP tumour VOI: {exc}"})
                continue
        masks[pid] = path
    inputs, more = cohort_inputs(ingest_dir, masks, cache_dir, size, progress)
    return inputs, failures + more


def read_tabular(path: str | Path) -> pd.DataFrame:
    """DLRCR's predictors from a CSV: ``patient_id`` + one numeric column per predictor (empty = missing),
    e.g. ``tables/dlrcr_tabular.csv`` of ``hccrisk reproduce zhao2024``."""
    try:
        table = pd.read_csv(path, dtype={"patient_id": str})
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the tabular predictors: {exc}") from None
    if "patient_id" not in table:
        raise InputError(path, "no patient_id column")
    table = table.set_index("patient_id")
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad or table.shape[1] == 0:
        raise InputError(path, f"need numeric predictor columns; not numeric: {bad}" if bad else "no predictor column")
    return table.astype(float)


def train_mri_cohort(ingest_dir: str | Path, cohort_dir: str | Path, out_dir: str | Path, depth: str = "resnet10",
                     label: str = "er_2y", tabular: str | Path | None = None, size: int = CPU_SIZE, seed: int = 0,
                     config: TrainConfig | None = None, observer: int = 1, progress: bool = True) -> dict:
    """``hccrisk train resnet|dlrcr`` and the bundles' train.json: split the labelled patients 8:2
    (stratified, zhao2024), train on the 8 (early stopping on an inner 20%), write ``out_dir/model.pt``,
    ``tabular.json`` (DLRCR), ``predictions.csv``, ``summary.json`` (with the validation AUC) and
    ``training/metrics.csv``. Inputs are cached in ``out_dir/../inputs`` unless already there."""
    from sklearn.metrics import roc_auc_score

    from hccrisk.models.split import split_cohort

    config = config or ZHAO_CONFIG
    cohort = Path(cohort_dir)
    outcomes = cohort / "outcomes.csv"
    if not outcomes.is_file():
        raise InputError(outcomes, "no outcomes.csv in the cohort folder")
    table = pd.read_csv(outcomes, dtype={"patient_id": str}).set_index("patient_id")
    if label not in table:
        raise InputError(outcomes, f"no column {label!r}")
    labels = table[label].dropna().astype(int)
    tab = read_tabular(tabular) if tabular is not None else None
    if tab is not None:
        labels = labels[labels.index.isin(tab.index)]
    present = [p for p in labels.index if (Path(ingest_dir) / p / "mri").is_dir()]
    out = Path(out_dir)
    inputs, failures = observer_inputs(ingest_dir, cohort / "rois" / f"observer{observer}", present,
                                       out.parent / "inputs", size, progress)
    for f in failures:
        log.warning("skipped %s", f)
    labels = labels.loc[[p for p in labels.index if p in inputs]]
    if len(labels) < 12 or labels.nunique() < 2:
        raise InputError(ingest_dir, f"{len(labels)} labelled patients with MRI inputs; need >= 12 of both classes")
    split = split_cohort(labels.to_frame("label"), ratio=(8, 2), stratify="label", seed=seed)
    train_ids = list(split.train)
    arm = train_arm({p: inputs[p] for p in labels.index}, labels, train_ids, depth, config,
                    tabular=tab.loc[labels.index] if tab is not None else None, seed=seed,
                    out_dir=out / "training", progress=progress)
    summary = save_arm(arm, out, labels, train_ids, next(iter(inputs.values())).shape)
    for name in ("last.pt", "best.pt"):  # the engine's checkpoints: up to 0.8 GB for ResNet-34; model.pt is best.pt
        (out / "training" / name).unlink(missing_ok=True)
    val = [p for p in labels.index if p not in set(train_ids)]
    y, s = labels.loc[val], arm.probabilities.loc[val]
    summary["validation_auc"] = float(roc_auc_score(y, s)) if y.nunique() == 2 else None
    summary["label"], summary["n_validation"] = label, len(val)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    return summary
