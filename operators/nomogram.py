"""The nomogram step: logistic risk of early recurrence from the imaging signature and clinical values.

Reads ``<bundle>/nomogram.json`` (``hccrisk.models.nomogram_file``, written from a fitted
``hccrisk.models.NomogramModel``). When the file is absent, or a needed clinical value is missing, the
risk is not computed (None) and the SR says so; no value is imputed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from monai.deploy.core import Fragment

from operators._case import CaseStepOperator

from hccrisk.models.nomogram_file import read_nomogram_file

log = logging.getLogger(__name__)


class NomogramOperator(CaseStepOperator):
    """Adds ``risk`` (None when not computed), ``cutoff`` and ``nomogram_missing`` to the case."""

    def __init__(self, fragment: Fragment, *args, bundle_folder: Path, **kwargs):
        self.path = Path(bundle_folder) / "nomogram.json"
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        if not self.path.is_file():
            log.warning("%s missing: the nomogram is not computed", self.path)
            return {"risk": None, "cutoff": 0.5, "nomogram_missing": ()}
        spec = read_nomogram_file(self.path)
        risk, missing = spec.risk(case["imaging_signature"], case["clinical"])
        log.info("nomogram: %s", f"risk {risk:.4f}" if risk is not None else f"not computed, missing {missing}")
        return {"risk": risk, "cutoff": spec.cutoff, "nomogram_missing": missing}
