"""Clinical values of the study's patient from a sidecar file in the input folder (hccrisk.results.clinical)."""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment

from operators._case import CaseStepOperator

from hccrisk.results.clinical import read_clinical

log = logging.getLogger(__name__)


class ClinicalValuesOperator(CaseStepOperator):
    """Adds ``clinical`` (values) and ``clinical_missing`` (empty columns) to the case."""

    def __init__(self, fragment: Fragment, *args, input_folder: Path, **kwargs):
        self.input_folder = Path(input_folder)
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        clinical, missing = read_clinical(self.input_folder, case["patient_id"], case.get("accession", ""))
        log.info("clinical values: %d given, %d missing", len(clinical), len(missing))
        return {"clinical": clinical, "clinical_missing": missing}
