"""The ingest's two tables: manifest.csv (one row per patient/series) and problems.csv (one per problem)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from hccrisk.dicom.select import Decision
from hccrisk.errors import InputError

MANIFEST_COLUMNS = ("patient_id", "study_uid", "series_uid", "modality", "series_description",
                    "n_files", "n_frames", "role", "used", "reason")
PROBLEM_COLUMNS = ("patient_id", "path", "problem")


def decision_row(decision: Decision) -> dict:
    """A manifest row from a selection decision."""
    s = decision.series
    return {"patient_id": s.patient_id, "study_uid": s.study_uid, "series_uid": s.series_uid,
            "modality": s.modality, "series_description": s.description,
            "n_files": len(s.instances), "n_frames": s.n_frames, "role": decision.role,
            "used": int(decision.used), "reason": decision.reason}


def problem_row(patient_id: str, error: BaseException) -> dict:
    """A problems row: where (file, series or option) and what, from an InputError or any error."""
    if isinstance(error, InputError):
        return {"patient_id": patient_id, "path": error.where, "problem": error.problem}
    return {"patient_id": patient_id, "path": "",
            "problem": f"internal error ({type(error).__name__}: {error})"}


def write_csv(path: Path, rows: Iterable[dict], columns: tuple[str, ...]) -> None:
    """Write rows atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
