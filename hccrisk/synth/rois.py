"""Ground-truth ROI bookkeeping shared by the writers: where each observer's ROIs go, which patients
the second observer reads, and CSV writing."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

OBSERVER2_PATIENTS = 30  #: size of the second observer's subset (zhao2024, SPEC section 2)


def observer2_subset(n_patients: int, seed: int, k: int = OBSERVER2_PATIENTS) -> set[int]:
    """Indices of the patients the second observer reads: ``k`` drawn without replacement from the
    cohort (all when the cohort is smaller), fixed by the cohort seed."""
    g = np.random.default_rng(np.random.SeedSequence([seed, 0x0B52]))
    return set(int(i) for i in g.permutation(n_patients)[: min(k, n_patients)])


def roi_dirs(out: Path, patient_id: str, second_observer: bool) -> tuple[Path, Path | None]:
    """``rois/observer1/<patient_id>`` and, for the subset, ``rois/observer2/<patient_id>``."""
    first = Path(out) / "rois" / "observer1" / patient_id
    second = Path(out) / "rois" / "observer2" / patient_id if second_observer else None
    return first, second


def write_rows(path: Path, rows: list[dict], columns: list[str] | tuple[str, ...] | None = None) -> Path:
    """Write dicts as CSV (``None`` -> empty cell, ``\\n`` line ends); parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(columns) if columns is not None else list(rows[0])
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n", extrasaction="raise")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path
