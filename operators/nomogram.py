"""The nomogram step: logistic risk of early recurrence from the imaging signature and clinical values.

Reads ``<bundle>/nomogram.json`` (a PROPOSED file contract, see docs/deploy.md; written from a fitted
``hccrisk.models.NomogramModel``): ``{"intercept": b0, "coefs": {predictor: beta | {level: beta}},
"cutoff": c, "signature": "dl_score"}``; the predictor named by ``signature`` takes the imaging signature,
every other predictor a clinical.csv column. When the file is absent, or a needed clinical value is
missing, the risk is not computed (None) and the SR says so.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from monai.deploy.core import Fragment

from operators._case import CaseStepOperator

from hccrisk.errors import InputError

log = logging.getLogger(__name__)


def nomogram_risk(spec: dict, signature: float, clinical: dict[str, float | str]
                  ) -> tuple[float | None, tuple[str, ...]]:
    """(risk, missing predictors): ``1 / (1 + exp(-(b0 + sum beta x)))``; categorical predictors add the
    beta of their level (reference level 0)."""
    name = spec.get("signature", "dl_score")
    lp = float(spec["intercept"])
    missing = []
    for predictor, beta in spec["coefs"].items():
        if predictor == name:
            lp += float(beta) * signature
        elif predictor not in clinical:
            missing.append(predictor)
        elif isinstance(beta, dict):
            level = str(clinical[predictor])
            if level not in beta:
                raise InputError(f"clinical value {predictor}", f"level {level!r} unknown to the nomogram "
                                                                f"(levels {sorted(beta)})")
            lp += float(beta[level])
        else:
            lp += float(beta) * float(clinical[predictor])
    if missing:
        return None, tuple(missing)
    return 1.0 / (1.0 + math.exp(-lp)), ()


class NomogramOperator(CaseStepOperator):
    """Adds ``risk`` (None when not computed), ``cutoff`` and ``nomogram_missing`` to the case."""

    def __init__(self, fragment: Fragment, *args, bundle_folder: Path, **kwargs):
        self.path = Path(bundle_folder) / "nomogram.json"
        super().__init__(fragment, *args, **kwargs)

    def add(self, case: dict) -> dict:
        if not self.path.is_file():
            log.warning("%s missing: the nomogram is not computed", self.path)
            return {"risk": None, "cutoff": 0.5, "nomogram_missing": ()}
        try:
            spec = json.loads(self.path.read_text())
            cutoff = float(spec["cutoff"])
        except (ValueError, KeyError) as exc:
            raise InputError(self.path, f"not a nomogram description: {exc}") from None
        risk, missing = nomogram_risk(spec, case["imaging_signature"], case["clinical"])
        log.info("nomogram: %s", f"risk {risk:.4f}" if risk is not None else f"not computed, missing {missing}")
        return {"risk": risk, "cutoff": cutoff, "nomogram_missing": missing}
