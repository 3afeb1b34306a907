"""chen2025's deep features: the whole-liver slices of each MRI sequence -> DenseNet-169 (trained here on
the training cohort, or user-supplied weights; never downloaded) -> the final pooling layer, 1664 values
per sequence -> per-sequence PCA -> LASSO -> DL score.

Input of the network (one sample per patient and sequence): (S, H, W) = the S = 3 consecutive axial slices
of maximum liver area (chosen on the AP liver mask so that every sequence shows the same anatomy),
square-cropped around the liver, resized to H = W = ``SIZE`` and zeroed outside the liver ("cropped
layer by layer to retain only the ROI region"). The three slices take the place of ImageNet's RGB
channels. Intensities are the ingest's (z-scored inside the body).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch

from hccrisk.errors import HccriskError, InputError
from hccrisk.nets.engine import TrainConfig, fit, predict, seed_everything
from hccrisk.nets.mri import DenseNetFeatures, extract_features

log = logging.getLogger(__name__)

SEQUENCES = ("T2", "AP", "PVP", "DP")  #: chen2025's four sequences, in this order everywhere
SLICES = 3  #: max-area liver slices per sequence = input channels
SIZE = 128  #: pixels (the paper: DenseNet-169 at ImageNet size; smaller here for CPU training)
CROP_MARGIN_MM = 5.0
N_FEATURES = 1664  #: DenseNet-169 final pooling layer
PCA_COMPONENTS = 10  #: per sequence (the paper does not give its number)
#: The paper: SGD, lr 0.01 with cosine annealing, 50 epochs, batch 32. Here: a few epochs for a CPU; the
#: shared engine's step schedule (halved at the middle epoch) stands in for the cosine annealing.
TRAIN_CONFIG = TrainConfig(epochs=3, batch_size=16, lr=0.01, momentum=0.9, milestones=(2,), gamma=0.5, l1=0.0,
                           l2=1e-4, patience=0, seed=0, device="auto")


def liver_slices(volumes: Mapping[str, sitk.Image | str | Path], livers: Mapping[str, sitk.Image | str | Path],
                 reference: str | None = "AP", n: int = SLICES, size: int = SIZE) -> np.ndarray:
    """One patient's network input: (len(volumes), n, size, size) float32, liver only.

    Args:
        volumes: sequence -> ingested volume (image or ``mri/<seq>.nii.gz``), all on the ingested grid.
        livers: sequence -> liver mask on the same grid (``work/masks/.../<seq>_liver.nii.gz``); each
            sequence is masked with its own, the slices and crop come from ``livers[reference]`` (the
            first sequence when ``reference`` is None or not among ``volumes``).
    """
    from hccrisk.roi.mri import read_mask, tumour_slices

    if reference is None or reference not in volumes:
        reference = next(iter(volumes))
    missing = [s for s in volumes if s not in livers]
    if missing or reference not in livers:
        raise InputError("liver masks", f"missing for {missing or [reference]}")
    ref = livers[reference] if isinstance(livers[reference], sitk.Image) else read_mask(livers[reference])
    masks = {f"mask_{s}": sitk.Cast(m if isinstance(m, sitk.Image) else read_mask(m), sitk.sitkFloat32)
             for s, m in livers.items() if s in volumes}
    # tumour_slices picks the n max-area slices of a mask's largest component and crops around it: the
    # same geometry for the liver; the masks go through it too so they stay aligned with the images.
    arr, _ = tumour_slices({**volumes, **masks}, ref, n=n, size=size, margin_mm=CROP_MARGIN_MM)
    k = len(volumes)
    return (arr[:k] * (arr[k:] > 0.5)).astype(np.float32)


def cached_liver_slices(mri: str | Path, livers: Mapping[str, Path], sequences: Sequence[str] = SEQUENCES,
                        size: int = SIZE, target: str | Path | None = None) -> tuple[np.ndarray | None, str | None]:
    """One patient's ``liver_slices`` of ``mri/<seq>.nii.gz`` with the liver masks ``livers`` ({sequence:
    path}), read from ``target`` (.npy) when it is newer than every mask, else computed and saved there.
    Returns (array, None) or (None, the problem); never raises for a bad patient (run in worker processes)."""
    masks = [Path(livers[s]) for s in sequences if s in livers]
    cached = Path(target) if target is not None else None
    if cached is not None and cached.is_file() and all(cached.stat().st_mtime >= m.stat().st_mtime for m in masks):
        return np.load(cached), None
    try:
        x = liver_slices({s: Path(mri) / f"{s}.nii.gz" for s in sequences}, {s: livers[s] for s in sequences if s in livers},
                         size=size)
    except (HccriskError, RuntimeError, KeyError) as exc:
        return None, str(exc)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial.npy")  # renamed when complete: a stopped run leaves no half file
        np.save(partial, x)
        partial.replace(cached)
    return x, None


def densenet_samples(inputs: Mapping[str, np.ndarray], labels: Mapping[str, int] | pd.Series) -> list[dict]:
    """Engine samples, one per patient and sequence: image (S, H, W), label, patient."""
    return [{"image": x, "label": int(labels[pid]), "patient": pid} for pid, xs in inputs.items() for x in xs]


def densenet_augmentation(seed: int = 0, size: int = SIZE, pad: int = 8):
    """The paper's real-time augmentation: random horizontal flip and random crop (pad by ``pad`` pixels,
    crop back to ``size``)."""
    from monai.transforms import Compose, RandFlipd, RandSpatialCropd, SpatialPadd

    aug = Compose([RandFlipd("image", prob=0.5, spatial_axis=1), SpatialPadd("image", (size + 2 * pad,) * 2),
                   RandSpatialCropd("image", (size, size), random_size=False)])
    aug.set_random_state(seed)
    return aug


def densenet(in_channels: int = SLICES, weights: str | Path | None = None) -> DenseNetFeatures:
    """A DenseNet-169 feature network, from ``weights`` (a state dict file) when given; InputError naming
    the file when it is not a readable DenseNet-169 state dict."""
    import pickle

    try:
        return DenseNetFeatures(in_channels=in_channels, weights=str(weights) if weights is not None else None)
    except (pickle.UnpicklingError, EOFError, ValueError, RuntimeError) as exc:
        raise InputError(weights, f"not a DenseNet-169 state dict: {exc}") from None


def train_densenet(inputs: Mapping[str, np.ndarray], labels: Mapping[str, int] | pd.Series, config: TrainConfig = TRAIN_CONFIG,
                   weights: str | Path | None = None, out_dir: str | Path | None = None,
                   progress: bool = True) -> tuple[DenseNetFeatures, dict]:
    """A DenseNet-169 for ``inputs`` (patients to train on: pass the training cohort only).

    With ``weights`` (a user's state dict, e.g. ImageNet-pretrained DenseNet-169 converted to MONAI's
    names) the network starts from them and is fine-tuned for ``config.epochs`` (0: used as given).
    Returns (network in eval mode on CPU, summary: epochs, seconds, training loss per epoch).
    """
    if not inputs:
        raise InputError("DenseNet training", "no training patients")
    channels = next(iter(inputs.values())).shape[1]
    seed_everything(config.seed)  # the initial weights too
    net = densenet(channels, weights)
    summary = {"epochs": config.epochs, "weights": str(weights) if weights else None, "n_patients": len(inputs),
               "n_samples": sum(len(x) for x in inputs.values()), "config": config.to_json()}
    if config.epochs > 0:
        result = fit(net, densenet_samples(inputs, labels), None, config, augment=densenet_augmentation(config.seed, size=next(iter(inputs.values())).shape[-1]),
                     out_dir=out_dir, progress=progress)
        summary.update(seconds=round(result.seconds, 1), train_loss=[round(r["train_loss"], 4) for r in result.history])
    net.cpu().eval()
    return net, summary


def deep_feature_table(net: DenseNetFeatures, inputs: Mapping[str, np.ndarray],
                       sequences: Sequence[str] = SEQUENCES) -> pd.DataFrame:
    """Final-pooling features: patients x (sequences x 1664), columns ``<seq>_dl<j>`` (``T2_dl0000``)."""
    ids = list(inputs)
    stacked = np.concatenate([inputs[p] for p in ids])  # (patients * sequences, S, H, W), sequence-minor
    feats = extract_features(net, stacked, batch_size=16).reshape(len(ids), len(sequences), -1)
    cols = [f"{s}_dl{j:04d}" for s in sequences for j in range(feats.shape[2])]
    return pd.DataFrame(feats.reshape(len(ids), -1), index=pd.Index(ids, name="patient_id"), columns=cols)


def dl_score_pipeline(sequences: Sequence[str] = SEQUENCES, n_components: int = PCA_COMPONENTS, random_state: int = 0):
    """chen2025's DL score on ``deep_feature_table`` output: per sequence z-score + PCA (``<seq>_pc<k>``),
    then LASSO-logistic (5-fold CV, lambda.min) over all components, then logistic regression on the
    selected ones (``LinearScore`` "dl_score"). Per sequence, as the paper reports its selected DL
    features by sequence ("five DL features from the T2WI sequence"). Output columns named."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hccrisk.features.lasso import LassoSelector
    from hccrisk.models.scores import LinearScore

    class _Named(PCA):  # component names carry the sequence: "T2_pc1"
        def get_feature_names_out(self, input_features=None):
            return np.array([f"pc{k + 1}" for k in range(self.n_components_)], dtype=object)

    per_seq = ColumnTransformer(
        [(s, make_pipeline(StandardScaler(), _Named(n_components=n_components, random_state=random_state)),
          _SequenceColumns(s)) for s in sequences], verbose_feature_names_out=True)
    return Pipeline([("pca", per_seq), ("lasso", LassoSelector(cv=5, rule="min", random_state=random_state)),
                     ("score", LinearScore(name="dl_score"))]).set_output(transform="pandas")


class _SequenceColumns:
    """Column selector of one sequence's deep features (picklable, unlike a lambda)."""

    def __init__(self, sequence: str):
        self.prefix = f"{sequence}_dl"

    def __call__(self, X: pd.DataFrame) -> list[str]:
        return [c for c in X.columns if str(c).startswith(self.prefix)]


def train_densenet_cohort(ingest_dir: str | Path, cohort_dir: str | Path, out_dir: str | Path, label: str = "er_6m",
                          observer: str = "observer1", seed: int = 0, config: TrainConfig | None = None,
                          size: int = SIZE, weights: str | Path | None = None, progress: bool = True) -> dict:
    """``hccrisk train densenet`` / the bundle's train.json: train on the training part (7:3 split stratified
    on ``label``, chen2025's ratio) of every labelled ingested patient, write to ``out_dir``: ``model.pt``
    (state dict), ``model.ts`` (TorchScript of the classifier), ``predictions.csv`` (patient, cohort, label,
    probability: mean over the 4 sequences), ``summary.json``. Returns the summary."""
    import csv

    from hccrisk.cohort import load_cohort
    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.models.split import split_cohort
    from hccrisk.nets.cohort import export_torchscript
    from hccrisk.roi.mri import ingested_rois

    config = config or TrainConfig(**{**TRAIN_CONFIG.to_json(), "seed": seed, "milestones": TRAIN_CONFIG.milestones})
    cohort = load_cohort(cohort_dir)
    if label not in cohort:
        raise InputError(Path(cohort_dir) / "outcomes.csv", f"no column {label!r}")
    labels = cohort[label].dropna().astype(int)
    inputs = {}
    for pid in labels.index:
        pdir = Path(ingest_dir) / patient_dir_name(pid)
        if not (pdir / "mri").is_dir():
            continue
        try:
            rois = ingested_rois(Path(cohort_dir) / "rois" / observer / pid, pdir, SEQUENCES, largest=False)
            inputs[pid] = liver_slices({s: pdir / "mri" / f"{s}.nii.gz" for s in SEQUENCES},
                                       {s: rois[s]["liver"] for s in SEQUENCES if "liver" in rois[s]}, size=size)
        except (HccriskError, RuntimeError) as exc:
            log.warning("skipped a patient: %s", exc)
    if len(inputs) < 4:
        raise InputError(ingest_dir, f"only {len(inputs)} labelled patients with ingested MRI and liver masks")
    labels = labels.loc[list(inputs)]
    split = split_cohort(labels.to_frame("label"), ratio=(7, 3), stratify="label", seed=seed)
    train_ids = list(split.train)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    net, summary = train_densenet({p: inputs[p] for p in train_ids}, labels, config, weights, out / "training", progress)
    torch.save(net.net.state_dict(), out / "model.pt")
    export_torchscript(net.net, out / "model.ts", (1, SLICES, size, size))
    samples = densenet_samples(inputs, labels)
    probs = predict(net, samples, device="cpu")
    rows = [{"patient": p, "cohort": "training" if p in train_ids else "validation", "label": int(labels[p]),
             "probability": probs[p]} for p in inputs]
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary.update(label=label, n_training=len(train_ids), n_validation=len(inputs) - len(train_ids),
                   input_shape=[SLICES, size, size], sequences=list(SEQUENCES), seconds=round(time.perf_counter() - t0, 1))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


class LoadLiverSlicesd:
    """MONAI dictionary transform for the bundle's inference.json: ``data[keys]`` = a patient's ingest folder,
    ``data[roi_key]`` = an observer's ROI folder (``mri_<seq>_liver.nii.gz`` on the native series) ->
    ``data[keys]`` = ``liver_slices`` (4, S, size, size) float32 (4 sequences = 4 network inputs, averaged by
    ``hccrisk.nets.transforms.SubCineInferer``), ``data["patient"]`` = the folder's name."""

    def __init__(self, keys: str = "image", roi_key: str = "roi", size: int = SIZE):
        self.key, self.roi_key, self.size = keys, roi_key, size

    def __call__(self, data: dict) -> dict:
        from hccrisk.roi.mri import ingested_rois

        d = dict(data)
        pdir, roi = Path(d[self.key]), Path(d[self.roi_key])
        rois = ingested_rois(roi, pdir, SEQUENCES, largest=False)
        d[self.key] = torch.as_tensor(liver_slices({s: pdir / "mri" / f"{s}.nii.gz" for s in SEQUENCES},
                                                   {s: rois[s]["liver"] for s in SEQUENCES if "liver" in rois[s]},
                                                   size=self.size))
        d["patient"] = pdir.name
        return d


def densenet_cam(net: DenseNetFeatures, x: np.ndarray) -> np.ndarray:
    """Grad-CAM (``hccrisk.nets.cam.grad_cam``, DenseNet's last dense block) of class 1 (recurrence) for
    one patient's input (sequences, S, H, W) -> (sequences, H, W) in [0, 1], one map per sequence."""
    from hccrisk.nets.cam import grad_cam

    # the last dense block, not ``features``: the classifier's in-place ReLU would modify the hooked output
    return grad_cam(net, torch.as_tensor(np.asarray(x), dtype=torch.float32), target_layer="net.features.denseblock4")


def cam_figure(images: np.ndarray, maps: np.ndarray, titles: Sequence[str], sequences: Sequence[str] = SEQUENCES):
    """Figure of Grad-CAM overlays: one row per patient, one column per sequence, the middle slice.

    Args: images (patients, sequences, S, H, W), maps (patients, sequences, H, W) in [0, 1]; titles per row.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = images.shape[0], images.shape[1]
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.0 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[r, c, images.shape[2] // 2], cmap="gray")
            ax.imshow(np.where(images[r, c, images.shape[2] // 2] != 0, maps[r, c], np.nan), cmap="jet", alpha=0.45,
                      vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{titles[r]}\n{sequences[c]}" if c == 0 else sequences[c], fontsize=7)
    fig.tight_layout()
    return fig
