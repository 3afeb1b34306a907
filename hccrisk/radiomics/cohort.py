"""Radiomics of a whole cohort: parallel worker processes, a per-case cache, failures reported and survived.

Each extraction (one case, one phase) is keyed by the SHA-256 of the parameter file, the image file, the mask
file, the label and the pyradiomics version. A result is written to ``cache_dir/<key>.json`` as soon as it
is finished, so a stopped or partly failed run loses nothing, and a re-run with nothing changed extracts
nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import radiomics
import SimpleITK as sitk
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from hccrisk.errors import HccriskError, InputError
from hccrisk.log import get_logger, pseudonym
from hccrisk.parallel import default_workers, process_pool
from hccrisk.radiomics.extraction import extract, with_prefix
from hccrisk.radiomics.parameters import file_sha256, resolve_params

log = get_logger(__name__)

CACHE_FORMAT = 1  # bump when the cached content changes meaning
FAILURE_COLUMNS = ["case_id", "prefix", "image", "mask", "error"]


@dataclass(frozen=True)
class Case:
    """One extraction: an image file and its mask file (any format SimpleITK reads: NIfTI, NRRD, MHA...).

    Several Cases with the same ``case_id`` and different ``prefix`` (phase names: ``"AP"``, ``"PVP"``...)
    give one row of the cohort table, with the features named ``<prefix>_<feature>``.
    """

    case_id: str
    image: Path
    mask: Path
    label: int = 1
    prefix: str | None = None

    def __post_init__(self) -> None:
        # accept str paths and ids from callers; store one type
        object.__setattr__(self, "case_id", str(self.case_id))
        object.__setattr__(self, "image", Path(self.image))
        object.__setattr__(self, "mask", Path(self.mask))
        if isinstance(self.label, bool) or not isinstance(self.label, int) or self.label < 1:
            raise InputError(f"case {self.case_id}", f"label must be a positive integer, got {self.label!r}")

    @property
    def name(self) -> str:
        """How messages name this extraction: ``case <id>`` plus the phase."""
        return f"case {self.case_id}" + (f" {self.prefix}" if self.prefix else "")


@contextmanager
def _single_threaded_here() -> Iterator[None]:
    """The worker settings applied in this process for the duration (workers=1 runs in-process)."""
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def _extract_case(case: Case, params: Path) -> tuple[dict[str, float] | None, str | None]:
    """Worker body: (features, None) or (None, error message); never raises, so one case cannot stop the rest."""
    try:
        image = sitk.ReadImage(str(case.image))
        mask = sitk.ReadImage(str(case.mask))
        log_as = pseudonym(case.case_id) + (f" {case.prefix}" if case.prefix else "")  # no IDs in logs
        features = extract(image, mask, params, label=case.label, name=case.name, log_as=log_as)
        return features.to_dict(), None
    except Exception as exc:  # reported per case; the run goes on
        message = str(exc) if isinstance(exc, InputError) else f"{case.name}: {type(exc).__name__}: {exc}"
        return None, message


def _cache_key(case: Case, params_sha: str, hashes: dict[Path, str]) -> str:
    """The extraction's identity; ``hashes`` memoises file hashes within a run (an image shared by a tumour
    and a liver mask is read once)."""
    for path in (case.image, case.mask):
        if path not in hashes:
            hashes[path] = file_sha256(path)
    parts = [
        f"format={CACHE_FORMAT}",
        f"pyradiomics={radiomics.__version__}",
        f"params={params_sha}",
        f"image={hashes[case.image]}",
        f"mask={hashes[case.mask]}",
        f"label={case.label}",
    ]
    return _sha256_text("\n".join(parts))


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cache(path: Path) -> dict[str, float] | None:
    try:
        return json.loads(path.read_text())["features"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable (a run killed while writing it): extract again


def _write_cache(path: Path, case: Case, params: Path, features: dict[str, float]) -> None:
    record = {
        "case_id": case.case_id,
        "prefix": case.prefix,
        "image": str(case.image),
        "mask": str(case.mask),
        "label": case.label,
        "params": str(params),
        "pyradiomics": radiomics.__version__,
        "features": features,
    }
    # write then rename: a reader never sees half a file
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(record, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_cases(cases: list[Case]) -> None:
    seen: set[tuple[str, str | None]] = set()
    for case in cases:
        key = (case.case_id, case.prefix)
        if key in seen:
            raise InputError(case.name, "listed twice (same case id and prefix)")
        seen.add(key)


def extract_cohort(
    cases: list[Case],
    params: str | Path,
    cache_dir: str | Path,
    workers: int | None = None,
    *,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Extract every case (in parallel, from the cache where possible) and gather one row per case id.

    Args:
        cases: the extractions to run; several per case id for several phases (see Case).
        params: a repository parameter file stem (``"zhao2024_mri"``) or a path to a pyradiomics YAML file.
        cache_dir: folder of cached results (created when absent); safe to share between cohorts.
        workers: worker processes (None or 0: all cores), each single-threaded; 1 runs in this process.
            Whole-liver extraction peaks at ~1.6 GB per worker: mind the memory on many-core machines.
        progress: show a tqdm progress bar.

    Returns:
        features: float DataFrame indexed by ``case_id`` (rows in the order of first appearance in ``cases``;
            columns grouped by prefix in order of first appearance, then pyradiomics' feature order). A case
            id appears only when all its extractions succeeded.
            ``features.attrs`` holds counts: ``attempted`` (extractions pyradiomics ran this time; cases with
            identical files share one), ``extracted`` (of those, succeeded), ``from_cache`` and ``failed``
            (cases; failures are not cached: they are tried again next time); ``params``, ``params_sha256``.
        failures: one row per failed extraction: ``case_id``, ``prefix``, ``image``, ``mask``, ``error``.
    """
    params_path = resolve_params(params)
    params_sha = file_sha256(params_path)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    _check_cases(cases)

    results: dict[int, dict[str, float]] = {}
    errors: dict[int, str] = {}
    pending: dict[int, Path] = {}  # index of the case to extract -> cache file to fill
    twins: dict[int, list[int]] = {}  # that index -> later cases with the very same files (extracted once)
    first_with_key: dict[str, int] = {}
    hashes: dict[Path, str] = {}
    for index, case in enumerate(cases):
        try:
            key = _cache_key(case, params_sha, hashes)
        except OSError as exc:  # missing or unreadable image/mask file
            errors[index] = f"{case.name}: cannot read {exc.filename}: {exc.strerror}"
            continue
        if key in first_with_key:
            twins[first_with_key[key]].append(index)
            continue
        first_with_key[key] = index
        twins[index] = []
        cached = _read_cache(cache / f"{key}.json")
        if cached is None:
            pending[index] = cache / f"{key}.json"
        else:
            results[index] = cached
    for index, others in twins.items():
        if index in results:
            results.update({other: results[index] for other in others})
    from_cache = len(results)

    bar = tqdm(total=len(cases), initial=from_cache + len(errors), desc="radiomics", unit="extraction",
               disable=not progress)
    extracted = 0

    def finished(index: int, features: dict[str, float] | None, error: str | None) -> None:
        nonlocal extracted
        if error is None:
            assert features is not None
            _write_cache(pending[index], cases[index], params_path, features)
            extracted += 1
            for done in [index, *twins[index]]:
                results[done] = features
        else:
            errors[index] = error
            for twin in twins[index]:
                errors[twin] = f"{cases[twin].name}: same files as {cases[index].name}: {error}"
            log.warning("radiomics failed for %s", pseudonym(cases[index].case_id))
        bar.update(1 + len(twins[index]))

    n_workers = max(1, min(workers or default_workers(), len(pending) or 1))
    try:
        if n_workers == 1:
            with _single_threaded_here():
                for index in pending:
                    finished(index, *_extract_case(cases[index], params_path))
        else:
            _run_pool(cases, pending, params_path, n_workers, finished)
    finally:
        bar.close()

    failed_ids = {cases[i].case_id for i in errors}  # a case id with any failed extraction has no row
    features = _assemble(cases, results)
    features = features.loc[[i for i in features.index if i not in failed_ids]]
    features.attrs.update(attempted=len(pending), extracted=extracted, from_cache=from_cache, failed=len(errors),
                          params=str(params_path), params_sha256=params_sha)
    failures = pd.DataFrame(
        [{"case_id": cases[i].case_id, "prefix": cases[i].prefix, "image": str(cases[i].image),
          "mask": str(cases[i].mask), "error": errors[i]} for i in sorted(errors)],
        columns=FAILURE_COLUMNS,
    )
    return features, failures


Job = Callable[[Case, Path], "tuple[dict[str, float] | None, str | None]"]
Finished = Callable[[int, "dict[str, float] | None", "str | None"], None]


def _spawn_pool(n_workers: int) -> ProcessPoolExecutor:
    return process_pool(n_workers, preload=[__name__])


def _run_pool(cases: list[Case], pending: dict[int, Path], params: Path, n_workers: int, finished: Finished,
              job: Job = _extract_case) -> None:
    """Run the pending extractions on worker processes, calling ``finished`` for each.

    If a worker process dies (a crash in native code, the out-of-memory killer), the shared pool breaks and
    the culprit is unknown; the extractions it left unfinished then run one process each, so only the one
    that kills its process is reported as failed.
    """
    # largest first (file bytes as a proxy for work): fewer stragglers at the end of the run
    todo = sorted(pending, key=lambda i: -(Path(cases[i].image).stat().st_size + Path(cases[i].mask).stat().st_size))
    unfinished: list[int] = []
    with _spawn_pool(n_workers) as pool:
        futures: dict[Future, int] = {pool.submit(job, cases[i], params): i for i in todo}
        for future in as_completed(futures):
            try:
                features, error = future.result()
            except BrokenProcessPool:
                unfinished.append(futures[future])
                continue
            finished(futures[future], features, error)
    if unfinished and not _workers_can_start():
        raise HccriskError(
            "radiomics worker processes die at start-up, before any extraction. A script that calls "
            "extract_cohort with workers > 1 must make the call under `if __name__ == \"__main__\":` (the "
            "workers run the script's top level again when they start); or pass workers=1."
        )
    if unfinished:
        log.warning("radiomics: a worker process died; running the %d unfinished extraction(s) one process each",
                    len(unfinished))
        _run_isolated(cases, sorted(unfinished, key=todo.index), params, n_workers, finished, job)


def _workers_can_start() -> bool:
    """Whether a fresh worker process can run a trivial job (it cannot when the main script re-runs the
    extraction unguarded in every worker it starts)."""
    with _spawn_pool(1) as pool:
        try:
            pool.submit(os.getpid).result()
            return True
        except BrokenProcessPool:
            return False


def _run_isolated(cases: list[Case], todo: list[int], params: Path, n_workers: int, finished: Finished,
                  job: Job) -> None:
    """Each extraction in its own single-use worker process (n_workers at a time): a death names its case."""
    queue, active = list(todo), {}
    while queue or active:
        while queue and len(active) < n_workers:
            index = queue.pop(0)
            pool = _spawn_pool(1)
            active[pool.submit(job, cases[index], params)] = (index, pool)
        done, _ = wait(active, return_when=FIRST_COMPLETED)
        for future in done:
            index, pool = active.pop(future)
            pool.shutdown(wait=True)
            try:
                features, error = future.result()
            except BrokenProcessPool:
                features, error = None, (f"{cases[index].name}: the worker process died during this extraction "
                                         "(a crash in native code or out of memory)")
            finished(index, features, error)


def _assemble(cases: list[Case], results: dict[int, dict[str, float]]) -> pd.DataFrame:
    """One row per case id, prefixed columns, deterministic order whatever order the workers finished in."""
    ids = list(dict.fromkeys(case.case_id for case in cases))
    prefixes = list(dict.fromkeys(case.prefix for case in cases))
    columns: dict[str | None, list[str]] = {prefix: [] for prefix in prefixes}
    known: dict[str | None, set[str]] = {prefix: set() for prefix in prefixes}
    rows: dict[str, list[pd.Series]] = {case_id: [] for case_id in ids}
    for index in sorted(results):  # input order, so the first successful case fixes each prefix's order
        case = cases[index]
        names = list(results[index])
        new = [name for name in names if name not in known[case.prefix]]
        if columns[case.prefix] and new:
            log.warning("radiomics: %s has %d feature(s) the earlier cases lack (e.g. %s)",
                        pseudonym(case.case_id), len(new), new[0])
        columns[case.prefix].extend(new)
        known[case.prefix].update(new)
        rows[case.case_id].append(with_prefix(pd.Series(results[index], dtype=float), case.prefix))
    ordered = [c for prefix in prefixes for c in with_prefix(pd.Series(index=columns[prefix], dtype=float),
                                                                   prefix).index]
    table = pd.DataFrame(
        [pd.concat(rows[case_id]) if rows[case_id] else pd.Series(dtype=float) for case_id in ids],
        index=pd.Index(ids, name="case_id"),
    )
    return table.reindex(columns=ordered).astype(float)
