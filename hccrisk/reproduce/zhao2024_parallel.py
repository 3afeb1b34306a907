"""zhao2024's per-patient preparation and its network trainings spread over the cores.

The radiomics extraction has its own pool (``hccrisk.radiomics.extract_cohort``); what ran on one core
before is here: mapping both observers' tumour VOIs to the ingested grid, cutting the networks' input
slices, and training the ResNet depths (each training is single-threaded and seeded, so a training gives
bit-identical weights in a worker process and in this one: the worker count never changes a number).

Workers are forked from a forkserver (never a plain fork of this process, whose ITK / torch threads would
be copied half-dead), each with one thread for ITK, BLAS and torch.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccrisk.log import get_logger
from hccrisk.parallel import default_workers, process_pool, run_jobs  # noqa: F401 - run_jobs is this module's API too

log = get_logger(__name__)

#: Patients per mask / input job: small enough that 2 workers finish together, large enough that a job's
#: start-up (imports are preloaded by the forkserver) stays negligible.
CHUNK = 8
#: What the forkserver imports once when this module starts it (the radiomics pool may have started it first).
_PRELOAD = ("hccrisk.reproduce.common", "hccrisk.radiomics.cohort")


def _pool(workers: int) -> ProcessPoolExecutor:
    return process_pool(workers, preload=_PRELOAD)


def _chunks(ids: Sequence[str], size: int = CHUNK) -> list[list[str]]:
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


def tumour_masks(paths: Any, patients: Mapping[str, Sequence[str]], phases: Sequence[str],
                 workers: int | None = None) -> dict[str, tuple[dict[str, dict[str, Path]], list[dict]]]:
    """``hccrisk.reproduce.common.ingested_tumour_masks`` of several observers ({observer: patients}) on
    ``workers`` processes. Returns {observer: (masks in the patients' order, failures)}."""
    from tqdm.auto import tqdm

    from hccrisk.reproduce.common import ingested_tumour_masks

    jobs = [(paths, chunk, observer, tuple(phases)) for observer, ids in patients.items() for chunk in _chunks(ids)]
    with tqdm(total=sum(len(ids) for ids in patients.values()), desc="tumour VOIs", unit="patient") as bar:
        done = run_jobs(ingested_tumour_masks, jobs, workers, lambda i: bar.update(len(jobs[i][1])), _PRELOAD)
    out: dict[str, tuple[dict, list]] = {observer: ({}, []) for observer in patients}
    for job, (masks, failures) in zip(jobs, done):
        out[job[2]][0].update(masks)
        out[job[2]][1].extend(failures)
    return {observer: ({p: masks[p] for p in patients[observer] if p in masks}, failures)
            for observer, (masks, failures) in out.items()}


def network_inputs(ingest_dir: Path, tumours: Mapping[str, Path], cache_dir: Path, size: int,
                   workers: int | None = None, progress: bool = True) -> tuple[dict[str, np.ndarray], list[dict]]:
    """``hccrisk.nets.resnet_train.cohort_inputs`` on ``workers`` processes (reading three 1 mm volumes per
    patient dominates). Returns ({patient: (9, size, size)} in ``tumours``' order, failures)."""
    from tqdm.auto import tqdm

    from hccrisk.nets.resnet_train import cohort_inputs

    ids = list(tumours)
    jobs = [(ingest_dir, {p: tumours[p] for p in chunk}, cache_dir, size, False) for chunk in _chunks(ids)]
    with tqdm(total=len(ids), desc="MRI slices", unit="patient", disable=not progress) as bar:
        done = run_jobs(cohort_inputs, jobs, workers, lambda i: bar.update(len(jobs[i][1])), _PRELOAD)
    inputs, failures = {}, []
    for part, failed in done:
        inputs.update(part)
        failures.extend(failed)
    return {p: inputs[p] for p in ids if p in inputs}, failures


def _train_job(inputs: Mapping[str, np.ndarray], labels: pd.Series, train: Sequence[str], depth: str, config: Any,
               tabular: pd.DataFrame | None, seed: int) -> tuple[bytes, Any]:
    """One ``train_arm`` in a worker; the network travels back as its state dict (bytes), the rest as is."""
    import torch

    from hccrisk.nets.resnet_train import train_arm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # in a worker or here: one thread, so the worker count never changes a weight
    try:
        arm = train_arm(inputs, labels, train, depth, config, tabular=tabular, seed=seed, progress=False)
    finally:
        torch.set_num_threads(threads)
    buffer = io.BytesIO()
    torch.save(arm.net.state_dict(), buffer)
    arm.net = None
    return buffer.getvalue(), arm


class PendingArms:
    """``train_arm`` jobs running on worker processes while this process does other work (zhao2024: the
    ResNet depths train during the radiomics arm's selection and models). ``result()`` waits and returns
    the ``TrainedNet``s in the jobs' order; ``cancel()`` drops what has not started. On a GPU, or with one
    worker, the jobs run here, inside ``result()``."""

    def __init__(self, jobs: Sequence[Mapping[str, Any]], workers: int | None = None):
        import torch

        self.jobs = list(jobs)
        self._args = [(job["inputs"], job["labels"], job["train"], job["depth"], job["config"], job.get("tabular"),
                       job.get("seed", 0)) for job in self.jobs]
        on_gpu = any(job["config"].device != "cpu" for job in self.jobs) and torch.cuda.is_available()
        self.workers = 1 if on_gpu else min(workers or default_workers(), len(self.jobs))
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future] = []
        if self.workers > 1:
            self._pool = _pool(self.workers)
            self._futures = [self._pool.submit(_train_job, *a) for a in self._args]

    def result(self) -> list[Any]:
        import torch
        from tqdm.auto import tqdm

        from hccrisk.nets.mri import MultiPhaseResNet
        from hccrisk.nets.resnet_train import PHASES

        names = ", ".join(job["depth"] + (" DLRCR" if job.get("tabular") is not None else "") for job in self.jobs)
        with tqdm(total=len(self.jobs), desc=f"training {names}", unit="net") as bar:
            if self._pool is None:
                done = []
                for a in self._args:
                    done.append(_train_job(*a))
                    bar.update()
            else:
                try:
                    for _ in as_completed(self._futures):
                        bar.update()
                    done = [f.result() for f in self._futures]
                finally:
                    self.cancel()
        arms = []
        for (state, arm), job in zip(done, self.jobs):
            tabular = 0 if arm.scaler is None else len(arm.scaler.columns)
            net = MultiPhaseResNet(job["depth"], phases=len(PHASES), tabular=tabular)
            net.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
            arm.net = net.eval()
            arms.append(arm)
        return arms

    def cancel(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def train_arms(jobs: Sequence[Mapping[str, Any]], workers: int | None = None) -> list[Any]:
    """``hccrisk.nets.resnet_train.train_arm(**job)`` (keys inputs, labels, train, depth, config, tabular,
    seed) for every job, on ``workers`` processes (one thread each; on a GPU, here one after the other).
    Returns the ``TrainedNet``s in the jobs' order."""
    return PendingArms(jobs, workers).result()
