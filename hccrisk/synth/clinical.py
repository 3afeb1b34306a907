"""Clinical variables (clinical.csv) from the latents: AFP, size, number and AST/GGT carry part of the
aggressiveness signal, ALB/TBIL/PT/PLT the liver reserve; ~3% of laboratory cells are missing.

Column names and units as in docs/architecture.md; equations in docs/synthetic.md ("Clinical").
"""

from __future__ import annotations

import numpy as np

from hccrisk.synth.latent import PatientLatents

CLINICAL_COLUMNS: tuple[str, ...] = (
    "patient_id", "age", "sex", "hbv", "cirrhosis", "child_pugh", "afp", "alb", "ast", "alt", "ggt",
    "tbil", "pt", "plt", "wbc", "tumour_size", "tumour_number", "treatment", "bclc",
)
#: Columns that may be missing (laboratory values and HBV status); the rest is always recorded.
MISSABLE: tuple[str, ...] = ("hbv", "afp", "alb", "ast", "alt", "ggt", "tbil", "pt", "plt", "wbc")
MISSING_RATE = 0.03


def treatment_probability_sr(p: PatientLatents) -> float:
    """P(surgical resection) given what the clinician sees: larger tumours and good reserve go to SR."""
    x = -0.2 + 0.9 * (p.tumour_size_cm > 3.0) + 0.7 * p.liver_reserve - 0.4 * (p.tumour_number > 1)
    return float(1.0 / (1.0 + np.exp(-x)))


def clinical_row(p: PatientLatents) -> dict[str, object]:
    """One clinical.csv row; ``None`` = missing. Uses the patient's "clinical" random stream only."""
    g = p.rng("clinical")
    a, r = p.aggressiveness, p.liver_reserve
    z = g.standard_normal(12)
    child_b = (r + 0.5 * z[0]) < -1.4
    row: dict[str, object] = {
        "patient_id": p.patient_id,
        "age": p.age,
        "sex": p.sex,
        "hbv": int(g.random() < 0.78),
        "cirrhosis": int(p.cirrhosis),
        "child_pugh": "B" if child_b else "A",
        "afp": round(max(0.5, float(np.exp(np.log(20.0) + 1.3 * a + 1.4 * z[1]))), 1),
        "alb": round(float(40.0 + 3.5 * r + 2.5 * z[2]), 1),
        "ast": round(float(np.exp(np.log(36.0) + 0.2 * a - 0.15 * r + 0.4 * z[3])), 0),
        "alt": round(float(np.exp(np.log(38.0) - 0.1 * r + 0.45 * z[4])), 0),
        "ggt": round(float(np.exp(np.log(58.0) + 0.35 * a + 0.5 * z[5])), 0),
        "tbil": round(float(np.exp(np.log(14.0) - 0.3 * r + 0.35 * z[6])), 1),
        "pt": round(float(12.0 - 0.5 * r + 0.7 * z[7]), 1),
        "plt": round(float(np.exp(np.log(160.0) - 0.3 * p.cirrhosis + 0.1 * r + 0.35 * z[8])), 0),
        "wbc": round(float(max(1.5, 5.6 + 1.4 * z[9])), 1),
        "tumour_size": p.tumour_size_cm,
        "tumour_number": p.tumour_number,
        "treatment": "SR" if g.random() < treatment_probability_sr(p) else "RFA",
    }
    row["bclc"] = bclc_stage(p.tumour_size_cm, p.tumour_number, row["child_pugh"] == "B")
    for col in MISSABLE:
        if g.random() < MISSING_RATE:
            row[col] = None
    for col in ("ast", "alt", "ggt", "plt"):
        if row[col] is not None:
            row[col] = int(row[col])
    return row


def bclc_stage(size_cm: float, number: int, child_b: bool) -> str:
    """BCLC 0 (single <= 2 cm, Child-Pugh A), A (single, or up to 3 nodules <= 3 cm), else B."""
    if number == 1 and size_cm <= 2.0 and not child_b:
        return "0"
    if number == 1 or (number <= 3 and size_cm <= 3.0):
        return "A"
    return "B"
