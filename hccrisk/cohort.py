"""A cohort's tables: clinical values and outcomes (and, for synthetic cohorts, the truth), joined by
patient. The same loader serves real cohorts (user-supplied CSVs with the same column names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hccrisk.errors import InputError

#: Clinical variables as named in the papers (docs/architecture.md), numeric and categorical.
NUMERIC_CLINICAL = ("age", "afp", "alb", "ast", "alt", "ggt", "tbil", "pt", "plt", "wbc", "tumour_size")
CATEGORICAL_CLINICAL = ("sex", "hbv", "cirrhosis", "child_pugh", "tumour_number", "treatment", "bclc")


def load_cohort(cohort_dir: str | Path, with_truth: bool = False) -> pd.DataFrame:
    """clinical.csv joined with outcomes.csv (and truth.csv when asked), one row per patient_id.

    Adds ``log10_afp`` (AFP spans orders of magnitude; the papers dichotomise or log it).
    """
    cohort_dir = Path(cohort_dir)
    tables = ["clinical.csv", "outcomes.csv"] + (["truth.csv"] if with_truth else [])
    frames = []
    for name in tables:
        path = cohort_dir / name
        if not path.is_file():
            raise InputError(path, "missing: a cohort folder needs clinical.csv and outcomes.csv")
        df = pd.read_csv(path, dtype={"patient_id": str})
        if "patient_id" not in df.columns:
            raise InputError(path, "no patient_id column")
        if df.patient_id.duplicated().any():
            dup = df.patient_id[df.patient_id.duplicated()].iloc[0]
            raise InputError(path, f"patient_id {dup!r} appears more than once")
        frames.append(df)
    merged = frames[0]
    for df in frames[1:]:
        overlap = [c for c in df.columns if c in merged.columns and c != "patient_id"]
        merged = merged.merge(df.drop(columns=overlap), on="patient_id", how="inner", validate="1:1")
    if len(merged) < len(frames[0]):
        raise InputError(cohort_dir, f"{len(frames[0]) - len(merged)} patients of clinical.csv lack outcomes")
    if "afp" in merged:
        merged["log10_afp"] = np.log10(merged["afp"].clip(lower=0.1))
    return merged.set_index("patient_id", drop=False)
