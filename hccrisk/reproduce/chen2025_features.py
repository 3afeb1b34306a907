"""chen2025's features, from an ingested cohort: observer 1's whole-liver masks, the radiomics of the four
sequences, the DenseNet-169 inputs and deep features (``hccrisk.reproduce.chen2025`` analyses them).

Work is spread so that no core idles (docs/papers/chen2025.md, "Cost"):

1. masks + liver slices: one job per patient on the worker processes (map the 4 liver masks to the
   ingested grid, then cut the network input from the same files);
2. the DenseNet trains on the training cohort in a thread of this process, single-threaded (the same
   weights on any machine), while
3. the radiomics extractions run on the worker processes (``hccrisk.radiomics.extract_cohort``);
   the deep features of every patient follow the training in the same thread.

Everything is cached in ``work/``: masks, ``radiomics-cache/``, ``dl-inputs/``, ``densenet/<key>/``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccrisk.errors import InputError
from hccrisk.log import get_logger
from hccrisk.nets.deepfeatures import SEQUENCES, SIZE, TRAIN_CONFIG
from hccrisk.reproduce.common import RunPaths, extract_phase_features, ingested_tumour_masks

log = get_logger(__name__)

PARAMS = "chen2025_mri"
OBSERVER = "observer1"  #: the paper's ROIs were drawn by one radiologist (and reviewed)
#: pyradiomics resampling (mm). The paper: 1 mm (its ingest spacing) costs ~36 CPU s per whole-liver
#: extraction, 480 of them for 120 patients; 3 mm (pyradiomics' own MR example, exampleMR_3mm, which the
#: parameter file follows) costs ~1.45 CPU s. ``spacing_mm=1`` reproduces the paper's setting.
RADIOMICS_SPACING_MM = 3.0


def radiomics_params(work: Path, spacing_mm: float = RADIOMICS_SPACING_MM) -> Path:
    """The parameter file used: ``chen2025_mri`` itself at 1 mm (the ingest's grid), else a copy that adds
    pyradiomics' ``resampledPixelSpacing`` (written to ``work/params/``, recorded with its hash)."""
    import yaml

    from hccrisk.radiomics.parameters import resolve_params

    base = resolve_params(PARAMS)
    if spacing_mm == 1.0:
        return base
    content = yaml.safe_load(base.read_text())
    content["setting"]["resampledPixelSpacing"] = [float(spacing_mm)] * 3
    path = work / "params" / f"{PARAMS}_{spacing_mm:g}mm.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"# {PARAMS} resampled to {spacing_mm:g} mm (hccrisk.reproduce.chen2025_features.radiomics_params)\n" + \
        yaml.safe_dump(content, sort_keys=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _liver_job(paths: RunPaths, pid: str, sequences: tuple[str, ...], size: int
               ) -> tuple[dict[str, Path] | None, np.ndarray | None, list[dict[str, str]]]:
    """One patient, in a worker: the liver masks on the ingested grid, then the network input (cached
    in ``work/dl-inputs``). Returns (masks by sequence, input (sequences, 3, size, size), failures)."""
    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.nets.deepfeatures import cached_liver_slices

    masks, failures = ingested_tumour_masks(paths, [pid], OBSERVER, sequences, roi="liver")
    if pid not in masks:
        return None, None, failures
    name = patient_dir_name(pid)
    x, problem = cached_liver_slices(paths.ingest / name / "mri", masks[pid], sequences, size,
                                     paths.work / "dl-inputs" / f"{name}_{'-'.join(sequences)}_{size}.npy")
    if x is None:
        failures.append({"patient_id": pid, "problem": f"liver slices: {problem}"})
    return masks[pid], x, failures


def liver_inputs(paths: RunPaths, ids: list[str], workers: int | None = None, size: int = SIZE,
                 sequences: tuple[str, ...] = SEQUENCES, progress: bool = True
                 ) -> tuple[dict[str, dict[str, Path]], dict[str, np.ndarray], list[dict[str, str]]]:
    """Observer 1's liver masks on the ingested grid (``work/masks``, redone only when a source is newer)
    and the network inputs (``work/dl-inputs``) of the patients ``ids``, one patient per job on ``workers``
    processes (None: all cores). Returns ({patient: {sequence: mask}}, {patient: input}, failures), in
    ``ids``' order; a bad patient is a failure row, not an abort."""
    from tqdm.auto import tqdm

    from hccrisk.parallel import run_jobs

    jobs = [(paths, pid, tuple(sequences), size) for pid in ids]
    with tqdm(total=len(jobs), desc="liver masks + slices", unit="patient", disable=not progress) as bar:
        results = run_jobs(_liver_job, jobs, workers, lambda i: bar.update(),
                           preload=("hccrisk.radiomics.cohort", __name__))
    done = {job[1]: result for job, result in zip(jobs, results)}
    masks, inputs, failures = {}, {}, []
    for pid in ids:
        by_seq, x, failed = done[pid]
        failures += failed
        if by_seq is not None:
            masks[pid] = by_seq
        if x is not None:
            inputs[pid] = x
    return masks, inputs, failures


def liver_radiomics(paths: RunPaths, masks: dict[str, dict[str, Path]], workers: int | None = None,
                    spacing_mm: float = RADIOMICS_SPACING_MM) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Whole-liver radiomics of every (patient, sequence) of ``masks`` (cached in ``work/radiomics-cache``).
    Returns (features, failures, parameter file)."""
    params = radiomics_params(paths.work, spacing_mm)
    radiomics, failures = extract_phase_features(paths, masks, str(params), workers)
    return radiomics, failures.assign(observer=OBSERVER), params


def liver_features(paths: RunPaths, ids: list[str], workers: int | None = None,
                   spacing_mm: float = RADIOMICS_SPACING_MM, size: int = SIZE, sequences: tuple[str, ...] = SEQUENCES,
                   ) -> tuple[pd.DataFrame, dict[str, np.ndarray], pd.DataFrame, Path]:
    """``liver_inputs`` then ``liver_radiomics`` of the patients ``ids``. Returns (radiomics, {patient:
    liver slices}, failures, parameter file)."""
    masks, inputs, fail = liver_inputs(paths, ids, workers, size, sequences)
    radiomics, rad_fail, params = liver_radiomics(paths, masks, workers, spacing_mm)
    return radiomics, inputs, pd.concat([pd.DataFrame(fail), rad_fail], ignore_index=True), params


def _densenet(inputs: dict[str, np.ndarray], labels: pd.Series, work: Path, seed: int, epochs: int,
              weights: str | Path | None, threads: int) -> tuple[Any, dict]:
    """The DenseNet trained on ``inputs`` (training patients), cached in ``work/densenet/<key>/`` (the key
    hashes the patients, the recipe and the starting weights, so a re-run trains nothing)."""
    import hashlib
    import json

    import torch

    from hccrisk.nets.deepfeatures import densenet, train_densenet
    from hccrisk.nets.engine import TrainConfig
    from hccrisk.radiomics.parameters import file_sha256

    config = TrainConfig(**{**TRAIN_CONFIG.to_json(), "epochs": epochs, "seed": seed})
    shape = next(iter(inputs.values())).shape
    digest = hashlib.sha256(json.dumps({"patients": sorted(inputs), "labels": [int(labels[p]) for p in sorted(inputs)],
                                        "config": config.to_json(), "shape": list(shape),
                                        "weights": file_sha256(weights) if weights else None}).encode())
    for p in sorted(inputs):  # the pixels too: another ingest or mask must train again
        digest.update(np.ascontiguousarray(inputs[p]).tobytes())
    key = digest.hexdigest()[:16]
    folder = work / "densenet" / key
    if (folder / "model.pt").is_file() and (folder / "summary.json").is_file():
        log.info("reusing the DenseNet trained in %s", folder)
        net = densenet(shape[1], folder / "model.pt")
        return net.eval(), json.loads((folder / "summary.json").read_text())
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net, summary = train_densenet(inputs, labels, config, weights, folder / "training")
    finally:
        torch.set_num_threads(previous)
    torch.save(net.net.state_dict(), folder / "model.pt")
    for checkpoint in ("last.pt", "best.pt"):  # the engine's resumable checkpoints: 150 MB nobody reads here
        (folder / "training" / checkpoint).unlink(missing_ok=True)
    (folder / "summary.json").write_text(json.dumps({**summary, "key": key}, indent=1))
    return net, {**summary, "key": key}


def deep_features(inputs: dict[str, np.ndarray], labels: pd.Series, train: list[str], work: Path, seed: int = 0,
                  epochs: int = TRAIN_CONFIG.epochs, weights: str | Path | None = None,
                  threads: int = 1, sequences: tuple[str, ...] = SEQUENCES) -> tuple[pd.DataFrame, dict]:
    """The DenseNet trained on the ``train`` patients' inputs with their ``labels`` (cached in
    ``work/densenet/``; ``epochs=0``: the user's ``weights`` as given), then the deep features of every
    patient of ``inputs``. Returns (``deep_feature_table``, training summary + "network")."""
    from hccrisk.nets.deepfeatures import deep_feature_table

    train_inputs = {p: inputs[p] for p in train if p in inputs}
    if len(train_inputs) < 10:
        raise InputError("DenseNet", f"only {len(train_inputs)} training patients have liver slices; need >= 10")
    if epochs == 0 and weights is None:
        raise InputError("DenseNet", "epochs=0 needs user-supplied weights (densenet_weights)")
    net, summary = _densenet(train_inputs, labels, work, seed, epochs, weights, threads)
    previous = _torch_threads(threads)
    try:
        return deep_feature_table(net, inputs, sequences), {**summary, "network": net}
    finally:
        _torch_threads(previous)


def _torch_threads(n: int) -> int:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def example_cams(net: Any, inputs: dict[str, np.ndarray], labels: pd.Series, val: list[str]) -> dict[str, Any]:
    """Grad-CAM of the first validation patient with and the first without recurrence (the paper's Figure 8):
    {"titles", "images" (k, sequences, S, H, W), "maps" (k, sequences, H, W)}; not written to provenance."""
    from hccrisk.log import pseudonym
    from hccrisk.nets.deepfeatures import densenet_cam

    picks = [p for y in (1, 0) for p in [next((q for q in val if q in inputs and labels.get(q) == y), None)] if p]
    return {"titles": [f"{pseudonym(p)} ({'recurrence' if labels[p] == 1 else 'no recurrence'})" for p in picks],
            "images": np.stack([inputs[p] for p in picks]) if picks else np.zeros((0,)),
            "maps": np.stack([densenet_cam(net, inputs[p]) for p in picks]) if picks else np.zeros((0,))}


class _InBackground:
    """``fn(*args)`` on a thread of this process while the caller goes on; ``result()`` waits and returns its
    value or raises its exception. A daemon thread: an interrupted run does not wait for it."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=f"chen2025 {fn.__name__}", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:  # handed to result()
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = round(time.perf_counter() - t0, 1)


def _network_stage(inputs: dict[str, np.ndarray], labels: pd.Series, train: list[str], val: list[str], work: Path,
                   seed: int, epochs: int, weights: str | Path | None, threads: int) -> tuple[pd.DataFrame, dict, dict]:
    """DenseNet training, every patient's deep features and the Grad-CAM examples: (deep, summary, cams)."""
    t0 = time.perf_counter()
    deep, summary = deep_features(inputs, labels, train, work, seed, epochs, weights, threads)
    net = summary.pop("network")
    previous = _torch_threads(threads)
    try:
        cams = example_cams(net, inputs, labels, val)
    finally:
        _torch_threads(previous)
    summary["stage_seconds"] = round(time.perf_counter() - t0, 1)
    return deep, summary, cams


def features_for(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None,
                 workers: int | None = None, seed: int = 0, spacing_mm: float = RADIOMICS_SPACING_MM,
                 densenet_weights: str | Path | None = None, epochs: int = TRAIN_CONFIG.epochs, size: int = SIZE,
                 threads: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Ingest (unless given), then the features of the labelled patients: ``liver_inputs``; the DenseNet
    trained on the training cohort of ``split_patients(cohort, seed)`` with ``threads`` torch threads and
    everyone's deep features (``deep_features``), in a thread, while ``liver_radiomics`` runs on the
    ``workers``. Returns (radiomics, deep features, failures, run info for the report, with "seconds"
    per stage)."""
    from hccrisk.cohort import load_cohort
    from hccrisk.reproduce.chen2025 import ENDPOINT, split_patients
    from hccrisk.reproduce.common import ensure_ingested, labelled_patients, resolve_paths

    seconds: dict[str, float] = {}
    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    with _timed(seconds, "ingest (check or run)"):
        ensure_ingested(paths, workers)
    cohort = load_cohort(paths.cohort)
    ids = list(labelled_patients(cohort, ENDPOINT).index)
    with _timed(seconds, "liver masks + slices"):
        masks, inputs, failures = liver_inputs(paths, ids, workers, size)
    if not inputs:
        raise InputError(paths.ingest, "no patient has liver slices (see the failures in the log)")
    train, val = split_patients(cohort, seed)
    network = _InBackground(_network_stage, inputs, cohort[ENDPOINT], train, val, paths.work, seed, epochs,
                            densenet_weights, threads)
    with _timed(seconds, "radiomics (the DenseNet training alongside)"):
        radiomics, rad_fail, params = liver_radiomics(paths, masks, workers, spacing_mm)
    with _timed(seconds, "waiting for the DenseNet after the radiomics"):
        deep, summary, cams = network.result()
    seconds["DenseNet training + deep features + Grad-CAM (thread)"] = summary.pop("stage_seconds")
    info = {"radiomics_params": str(params), "radiomics_spacing_mm": spacing_mm, "densenet": summary,
            "input_shape": list(next(iter(inputs.values())).shape), "cam": cams, "seconds": seconds}
    return radiomics, deep, pd.concat([pd.DataFrame(failures), rad_fail], ignore_index=True), info
