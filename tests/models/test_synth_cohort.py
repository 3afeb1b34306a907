"""The clinical model on the synthetic cohort's clinical.csv / outcomes.csv rows (hccrisk.synth, no
images): with signal it finds the drivers of recurrence and predicts validation; with signal 0 (every
outcome independent of the clinical variables) the validation AUC's CI contains 0.5."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.models import ClinicalModel, split_cohort
from hccrisk.stats import auc_ci
from hccrisk.synth.cohort import patient_rows
from hccrisk.synth.latent import draw_latents

CANDIDATES = ["age", "sex", "hbv", "cirrhosis", "child_pugh", "afp", "alb", "ast", "alt", "ggt", "tbil", "pt", "plt",
              "wbc", "tumour_size", "tumour_number", "treatment", "bclc"]


def synthetic_clinical(signal: float, seed: int = 5, n: int = 400) -> pd.DataFrame:
    rows = [patient_rows(p) for p in draw_latents(n, seed=seed, signal=signal)]
    df = pd.DataFrame([{**clinical, **outcome} for clinical, outcome, _ in rows]).set_index("patient_id")
    df = df[df["er_2y"].notna()]  # follow-up ended before 2 years without recurrence: outcome unknown
    return df.assign(afp=np.log(df["afp"]))  # AFP on the log scale, as usually modelled


@pytest.mark.parametrize("signal", [1.0, 0.0])
def test_clinical_model_on_the_synthetic_cohort(signal):
    df = synthetic_clinical(signal)
    split = split_cohort(df, stratify="er_2y", seed=5, balance_on=["age", "sex", "tumour_size", "child_pugh"])
    train, val = df.loc[split.train], df.loc[split.validation]
    model = ClinicalModel.from_paper("liu2025", candidates=CANDIDATES, categorical=["tumour_number"]).fit(train, train["er_2y"])
    auc = auc_ci(val["er_2y"], model.predict_proba(val)[:, 1])
    if signal:
        assert {"tumour_size", "afp"} <= set(model.selected_)  # the generator's drivers of early recurrence
        assert auc.low > 0.6
    else:
        assert auc.low <= 0.5 <= auc.high
