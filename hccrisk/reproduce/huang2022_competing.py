"""huang2022: early recurrence with death as competing event (Fine-Gray regression, univariate then
multivariable) and the four classes from the dichotomised predicted ER and OS, with per class the HR of
retreatment after recurrence. Times are months (outcomes.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccrisk.errors import HccriskError
from hccrisk.reproduce.huang2022_survival import OS

ER_MONTHS = 12.0  #: early recurrence: within 1 year


def fine_gray_tables(data: pd.DataFrame, covariates: pd.DataFrame, train: list[str], val: list[str]
                     ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Fine-Gray regression of recurrence within 12 months, death without recurrence competing (follow-up
    censored at 12 months). Univariate per candidate in training; P < 0.05 -> multivariable, fitted in
    training and refitted unchanged in validation; the DLR ER score (column ``dlr_er``, when there is one)
    always enters. Returns (univariate, multivariable, notes)."""
    from hccrisk import stats

    fg = pd.DataFrame({"time": np.minimum(data["event_time"].astype(float), ER_MONTHS),
                       "event": np.where(data["event_time"].astype(float) > ER_MONTHS, 0, data["event_type"].astype(int))},
                      index=data.index)
    table = pd.concat([fg, covariates], axis=1)
    uni, notes = [], []
    for c in covariates.columns:
        if covariates.loc[train, c].std() == 0:
            continue
        try:
            r = stats.fine_gray(table.loc[train], "time", "event", 1, [c]).table.loc[c]
        except (HccriskError, np.linalg.LinAlgError) as exc:  # e.g. no ER among the patients with c = 1
            notes.append(f"Univariate Fine-Gray of {c} not estimable in training ({exc}).")
            continue
        uni.append({"covariate": c, **r.to_dict()})
    uni_df = pd.DataFrame(uni)
    chosen = list(uni_df.loc[uni_df.p < 0.05, "covariate"]) if len(uni_df) else []
    if "dlr_er" in covariates and "dlr_er" not in chosen:
        chosen = ["dlr_er"] + chosen  # the paper's question: is the DLR score independent of the clinical factors
    multi = []
    if not chosen:
        notes.append("Multivariable Fine-Gray not fitted: no DLR ER score and no candidate with a univariate "
                     "P < 0.05 in training.")
    for cohort, ids in (("training", train), ("validation", val)) if chosen else ():
        try:
            r = stats.fine_gray(table.loc[ids], "time", "event", 1, chosen)
        except (HccriskError, np.linalg.LinAlgError) as exc:
            notes.append(f"Multivariable Fine-Gray in {cohort} not fitted: {exc}")
            continue
        multi += [{"cohort": cohort, "covariate": k, **v, "events": r.events, "competing": r.competing_events}
                  for k, v in r.table.to_dict("index").items()]
    return uni_df, pd.DataFrame(multi), notes


def four_classes(data: pd.DataFrame, er_high: pd.Series, os_high: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """huang2022's four classes (1: high ER / low OS risk, 2: high / high, 3: low / low, 4: low ER / high OS
    risk) and per class, among patients with a recurrence, the Cox HR of retreatment for OS."""
    from hccrisk import stats

    cls = pd.Series(np.select([(er_high == 1) & (os_high == 0), (er_high == 1) & (os_high == 1),
                               (er_high == 0) & (os_high == 0)], [1, 2, 3], 4), index=data.index, name="class")
    rows = []
    recurred = data["recurrence_event"].astype(int) == 1
    for k in (1, 2, 3, 4):
        ids = data.index[(cls == k) & recurred]
        df = data.loc[ids, list(OS) + ["retreatment"]].astype(float)
        row = {"class": k, "patients": int((cls == k).sum()), "recurred": len(ids),
               "retreated": int(df.retreatment.sum()), "deaths": int(df[OS[1]].sum())}
        if 0 < df.retreatment.sum() < len(df) and df[OS[1]].sum() > 0:
            try:
                fit = stats.cox_fit(df, *OS, ["retreatment"]).table.loc["retreatment"]
                row.update({"HR": fit.hr, "HR low": fit.hr_low, "HR high": fit.hr_high, "P": fit.p})
            except (HccriskError, np.linalg.LinAlgError) as exc:  # too few deaths in a small class
                row["note"] = f"HR not estimable: {exc}"
        rows.append(row)
    return cls, pd.DataFrame(rows)
