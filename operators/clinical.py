"""Clinical values of the study's patient from a sidecar file in the input folder."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from monai.deploy.core import Fragment

from operators._case import CaseStepOperator

from hccrisk.errors import InputError
from hccrisk.results import codes as rc

log = logging.getLogger(__name__)
KNOWN = set(rc.CLINICAL_NUMERIC) | set(rc.CLINICAL_CATEGORICAL)


def read_clinical(input_folder: Path, patient_id: str) -> tuple[dict[str, float | str], tuple[str, ...]]:
    """The patient's clinical values from ``clinical.json`` ({patient_id: {column: value}}) or
    ``clinical.csv`` (patient_id + columns, empty = missing) in the input folder: (values, missing)."""
    row: dict | None = None
    if (input_folder / "clinical.json").is_file():
        path = input_folder / "clinical.json"
        try:
            row = json.loads(path.read_text()).get(patient_id)
        except (ValueError, AttributeError) as exc:
            raise InputError(path, f"not a JSON object keyed by patient ID: {exc}") from None
    elif (input_folder / "clinical.csv").is_file():
        with open(input_folder / "clinical.csv", newline="") as f:
            row = next((r for r in csv.DictReader(f) if r.get("patient_id") == patient_id), None)
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


class ClinicalValuesOperator(CaseStepOperator):
    """Adds ``clinical`` (values) and ``clinical_missing`` (empty columns) to the case."""

    def __init__(self, fragment: Fragment, *args, input_folder: Path, **kwargs):
        self.input_folder = Path(input_folder)
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        clinical, missing = read_clinical(self.input_folder, case["patient_id"])
        log.info("clinical values: %d given, %d missing", len(clinical), len(missing))
        return {"clinical": clinical, "clinical_missing": missing}
