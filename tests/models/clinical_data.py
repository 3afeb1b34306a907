"""A clinical table like the synthetic cohort's clinical.csv, with a known effect of afp and Child-Pugh."""

import numpy as np
import pandas as pd


def clinical_table(n: int = 300, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(58, 10, n).round(),
        "sex": rng.choice(["M", "F"], n, p=[0.8, 0.2]),
        "log_afp": rng.normal(3.0, 1.5, n),
        "child_pugh": rng.choice(["A", "B"], n, p=[0.75, 0.25]),
        "alb": rng.normal(40, 5, n),
        "tumour_size": rng.gamma(3.0, 1.2, n),
    })
    lp = -1.2 + 0.6 * (df.log_afp - 3) + 0.9 * (df.child_pugh == "B") + 0.25 * (df.tumour_size - 3.6)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    df.loc[rng.choice(n, 25, replace=False), "alb"] = np.nan
    df.loc[rng.choice(n, 10, replace=False), "tumour_size"] = np.nan
    return df, y
