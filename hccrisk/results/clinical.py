"""The clinical values a report uses: one patient's row of clinical.csv / clinical.json (the columns of
docs/architecture.md), numbers as float, categories as text, empty cells named as missing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from hccrisk.errors import InputError
from hccrisk.results import codes as rc

#: The clinical.csv columns a report knows (numeric and categorical).
KNOWN = set(rc.CLINICAL_NUMERIC) | set(rc.CLINICAL_CATEGORICAL)


def read_clinical(input_folder: Path, patient_id: str, accession: str = "") -> tuple[dict[str, float | str],
                                                                                    tuple[str, ...]]:
    """The patient's clinical values from ``clinical.json`` ({patient_id or accession number: {column:
    value}}) or ``clinical.csv`` (patient_id and/or accession_number + columns, empty = missing) in the
    input folder: (values, missing). The patient ID is looked up first, then the study's accession number.
    No file, or no row for this patient or study: every known column is missing."""
    row: dict | None = None
    keys = [k for k in (patient_id, accession) if k]
    if (input_folder / "clinical.json").is_file():
        path = input_folder / "clinical.json"
        try:
            table = json.loads(path.read_text())
        except ValueError as exc:
            raise InputError(path, f"not a JSON object keyed by patient ID or accession number: {exc}") from None
        if not isinstance(table, dict):
            raise InputError(path, f"not a JSON object keyed by patient ID or accession number (a "
                                   f"{type(table).__name__})")
        row = next((table[k] for k in keys if k in table), None)
        if row is not None and not isinstance(row, dict):
            raise InputError(path, "each entry must be an object {column: value}")
    elif (input_folder / "clinical.csv").is_file():
        with open(input_folder / "clinical.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        row = next((r for r in rows if patient_id and r.get("patient_id") == patient_id), None) or \
            next((r for r in rows if accession and r.get("accession_number") == accession), None)
    if row is None:
        return {}, tuple(sorted(KNOWN))
    values: dict[str, float | str] = {}
    missing = []
    for column, value in row.items():
        if column not in KNOWN:
            continue
        if value is None or str(value).strip() == "":
            missing.append(column)
        elif column in rc.CLINICAL_NUMERIC:
            try:
                values[column] = float(value)
            except ValueError:
                raise InputError(f"clinical value {column}", f"{value!r} is not a number") from None
        else:
            values[column] = str(value)
    return values, tuple(missing)
