"""Training / validation split of a cohort, repeated until the baseline is balanced (as the papers)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from hccrisk.features._validation import EstimatorInputError
from hccrisk.stats import Result, baseline_table

__all__ = ["CohortSplit", "split_cohort"]

_GROUP = "__cohort__"


@dataclasses.dataclass(frozen=True)
class CohortSplit(Result):
    """``train`` / ``validation``: index labels of ``df``; ``tries``: random splits drawn;
    ``balance``: ``baseline_table`` of the accepted split (training vs validation), or None."""

    train: np.ndarray
    validation: np.ndarray
    tries: int
    balance: pd.DataFrame | None = dataclasses.field(default=None, compare=False, repr=False)


def split_cohort(
    df: pd.DataFrame,
    ratio: tuple[float, float] = (7, 3),
    n_train: int | None = None,
    stratify: str | None = None,
    seed: int = 0,
    balance_on: Sequence[str] = (),
    categorical: Sequence[str] | None = None,
    alpha: float = 0.05,
    max_tries: int = 1000,
) -> CohortSplit:
    """Random split of the rows of ``df`` into training and validation cohorts.

    Size: ``n_train`` rows, else ``ratio`` (training : validation). ``stratify``: a column whose
    proportions are kept (e.g. the outcome). ``balance_on``: columns that must not differ between the
    cohorts: splits are drawn (one ``numpy`` generator seeded with ``seed``) until every test of
    ``hccrisk.stats.baseline_table`` has p >= ``alpha``, at most ``max_tries`` times; ``tries`` reports
    how many were drawn. Same arguments, same split.
    """
    n = len(df)
    if n_train is None:
        if len(ratio) != 2 or min(ratio) <= 0:
            raise EstimatorInputError("ratio", f"must be two positive numbers (training, validation), got {ratio!r}")
        n_train = int(round(n * ratio[0] / (ratio[0] + ratio[1])))
    if not 1 <= n_train < n:
        raise EstimatorInputError("n_train", f"must leave at least one patient in each cohort of {n}, got {n_train}")
    missing = [c for c in [*([stratify] if stratify else []), *balance_on] if c not in df.columns]
    if missing:
        raise EstimatorInputError("df", f"has no column(s) {missing}")
    strata = None
    if stratify:
        if df[stratify].isna().any():
            raise EstimatorInputError(stratify, f"stratification column has {int(df[stratify].isna().sum())} missing values")
        strata = df[stratify].to_numpy()
    if max_tries < 1:
        raise EstimatorInputError("max_tries", f"must be at least 1, got {max_tries}")
    rng = np.random.default_rng(seed)
    positions = np.arange(n)
    for tries in range(1, max_tries + 1):
        train_pos, val_pos = train_test_split(positions, train_size=n_train, stratify=strata,
                                              random_state=int(rng.integers(2**31 - 1)))
        train, val = df.index[np.sort(train_pos)].to_numpy(), df.index[np.sort(val_pos)].to_numpy()
        if not balance_on:
            return CohortSplit(train, val, tries, None)
        table = df[list(balance_on)].copy()
        table[_GROUP] = "validation"
        table.iloc[np.sort(train_pos), table.columns.get_loc(_GROUP)] = "training"
        balance = baseline_table(table, _GROUP, list(balance_on), categorical=categorical)
        p = pd.to_numeric(balance["p_value"], errors="coerce").dropna()
        if (p >= alpha).all():
            return CohortSplit(train, val, tries, balance)
    raise EstimatorInputError("balance_on", f"no split in {max_tries} tries had every baseline p >= {alpha} for {list(balance_on)}")
