"""Worker processes for per-patient work: how hccrisk starts them, in one place.

Workers are forked from a forkserver (spawned where the platform has none), never by a plain fork of the
caller, whose ITK / torch threads would be copied half-dead. The forkserver is one fresh process per
program that imports the modules named by the first pool's ``preload`` once, so later workers start without
importing pandas / SimpleITK / pyradiomics again (~0.5 s of CPU each with spawn); a later pool's ``preload``
has no effect once the server runs. Each worker runs ITK, OpenMP/BLAS and (when loaded) torch on one thread:
the cores are shared between processes, not oversubscribed, and a seeded single-threaded computation gives
bit-identical results in a worker and in the caller.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

#: Environment variables that set the thread count of OpenMP, BLAS and ITK in a worker.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def single_thread_settings() -> None:
    """One thread for ITK, OpenMP/BLAS and torch in this process (a worker's initializer)."""
    import SimpleITK as sitk
    from threadpoolctl import threadpool_limits

    for variable in THREAD_ENV:
        os.environ[variable] = "1"
    threadpool_limits(limits=1)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def worker_context(preload: Sequence[str] = ()) -> multiprocessing.context.BaseContext:
    """Forkserver (preloading ``preload``, if it does not run yet) where the platform has it, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))  # no effect once the server runs
    return context


def process_pool(workers: int, preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """``workers`` single-threaded worker processes (see the module docstring)."""
    return ProcessPoolExecutor(workers, mp_context=worker_context(preload), initializer=single_thread_settings)


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], workers: int | None = None,
             progress: Callable[[int], None] | None = None, preload: Sequence[str] = ()) -> list[Any]:
    """``[fn(*job) for job in jobs]``, on ``workers`` processes (None: all cores; 1 or a single job: here).

    ``fn`` must be a module-level function; ``progress(i)`` is called as job ``i`` finishes; the results come
    back in the jobs' order. A job's exception propagates (the caller turns per-patient failures into rows).
    """
    workers = min(workers or default_workers(), len(jobs))
    if workers <= 1:
        out = []
        for i, job in enumerate(jobs):
            out.append(fn(*job))
            if progress is not None:
                progress(i)
        return out
    results: dict[int, Any] = {}
    with process_pool(workers, preload) as pool:
        futures: dict[Future, int] = {pool.submit(fn, *job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if progress is not None:
                progress(futures[future])
    return [results[i] for i in range(len(jobs))]
