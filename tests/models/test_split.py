"""split_cohort: sizes, stratification, reproducibility and the balance rule (baseline p >= alpha)."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.models import split_cohort
from hccrisk.stats import baseline_table
from tests.models.clinical_data import clinical_table


def cohort():
    df, y = clinical_table(n=200, seed=8)
    return df.assign(er=y).set_axis([f"HCC{i:03d}" for i in range(200)])


def test_sizes_stratification_and_labels():
    df = cohort()
    s = split_cohort(df, ratio=(7, 3), stratify="er", seed=1)
    assert len(s.train) == 140 and len(s.validation) == 60 and s.tries == 1
    assert set(s.train).isdisjoint(s.validation) and set(s.train) | set(s.validation) == set(df.index)
    assert abs(df.loc[s.train, "er"].mean() - df.er.mean()) < 0.01
    assert len(split_cohort(df, n_train=150, seed=1).train) == 150


def test_same_seed_same_split():
    df = cohort()
    a, b, c = split_cohort(df, seed=3), split_cohort(df, seed=3), split_cohort(df, seed=4)
    np.testing.assert_array_equal(a.train, b.train)
    assert set(a.train) != set(c.train)


def test_balance_is_retried_until_every_baseline_p_reaches_alpha():
    df = cohort()
    cols = ["age", "sex", "log_afp", "child_pugh", "alb"]
    s = split_cohort(df, stratify="er", seed=0, balance_on=cols, alpha=0.5)  # strict: needs several draws
    assert s.tries > 1
    table = baseline_table(df.loc[[*s.train, *s.validation], cols].assign(cohort=["t"] * len(s.train) + ["v"] * len(s.validation)), "cohort", cols)
    assert (pd.to_numeric(table["p_value"], errors="coerce").dropna() >= 0.5).all()
    again = split_cohort(df, stratify="er", seed=0, balance_on=cols, alpha=0.5)
    assert again.tries == s.tries and list(again.train) == list(s.train)


def test_impossible_balance_and_bad_arguments_are_named():
    df = cohort()
    with pytest.raises(InputError, match="balance_on.*3 tries"):
        split_cohort(df, balance_on=["age"], alpha=0.9999, max_tries=3)
    with pytest.raises(InputError, match="no column"):
        split_cohort(df, stratify="outcome")
    with pytest.raises(InputError, match="n_train"):
        split_cohort(df, n_train=200)
