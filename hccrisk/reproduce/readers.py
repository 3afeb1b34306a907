"""Reader study (huang2022): clinicians call each patient's outcome (e.g. early recurrence) without and then
with the model's prediction; per reader the sensitivity and specificity before and after (exact CIs),
their paired change (Wald CI for paired proportions, McNemar test), and agreement between readers
(Cohen's kappa per pair, Fleiss' kappa over all) before and after.

Calls CSV (one row per reader and patient): ``reader``, ``patient_id``, ``call_without``, ``call_with``
(0/1). Truth: a 0/1 outcome per patient (outcomes.csv column, default ``er_1y``).

``simulate_reader_calls`` makes seeded calls for demos and tests: readers whose accuracy improves when
they see a model that discriminates.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from hccrisk.errors import InputError

CALL_COLUMNS = ("reader", "patient_id", "call_without", "call_with")
Z95 = float(sps.norm.ppf(0.975))


@dataclass(frozen=True)
class PairedChange:
    """Change of a proportion measured twice on the same subjects (e.g. a reader's sensitivity among the
    events): ``before``, ``after``, ``difference`` = after - before with its Wald 95% CI
    (se = sqrt(b + c - (b - c)^2 / n) / n, b / c the discordant counts), and McNemar's test
    (``test``: "exact" binomial when b + c < 25, else chi-square with continuity correction, as R
    ``mcnemar.test``)."""

    n: int
    before: float
    after: float
    difference: float
    low: float
    high: float
    b: int  #: 0 before, 1 after
    c: int  #: 1 before, 0 after
    p_value: float
    test: str


def paired_change(before: np.ndarray, after: np.ndarray) -> PairedChange:
    """``PairedChange`` of two 0/1 vectors (n,) on the same subjects."""
    from statsmodels.stats.contingency_tables import mcnemar

    x, y = np.asarray(before).astype(int), np.asarray(after).astype(int)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise InputError("reader calls", f"need two equal-length non-empty 0/1 vectors, got {x.shape} and {y.shape}")
    n = x.size
    b, c = int(((x == 0) & (y == 1)).sum()), int(((x == 1) & (y == 0)).sum())
    diff = (b - c) / n
    se = np.sqrt(max(b + c - (b - c) ** 2 / n, 0.0)) / n
    if b + c == 0:
        p, test = 1.0, "none (no discordant pairs)"
    else:
        exact = b + c < 25
        table = [[int(((x == 0) & (y == 0)).sum()), b], [c, int(((x == 1) & (y == 1)).sum())]]
        p = float(mcnemar(table, exact=exact, correction=True).pvalue)
        test = "McNemar exact" if exact else "McNemar chi-square (continuity corrected)"
    return PairedChange(n, float(x.mean()), float(y.mean()), float(diff), float(max(diff - Z95 * se, -1.0)),
                        float(min(diff + Z95 * se, 1.0)), b, c, p, test)


@dataclass(frozen=True)
class ReaderStudy:
    """``per_reader``: one row per reader x cohort x metric (sensitivity, specificity, accuracy): before and
    after with exact CIs, the paired change (CI, McNemar P). ``kappa``: per cohort and condition
    (without / with the model), Cohen's kappa of each reader pair and Fleiss' kappa of all readers."""

    per_reader: pd.DataFrame
    kappa: pd.DataFrame


def read_calls(path: str | Path) -> pd.DataFrame:
    """Read and check a calls CSV (columns ``CALL_COLUMNS``, calls 0/1, one row per reader and patient)."""
    path = Path(path)
    try:
        calls = pd.read_csv(path, dtype={"patient_id": str, "reader": str})
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the readers' calls: {exc}") from None
    return check_calls(calls, path)


def check_calls(calls: pd.DataFrame, where: str | Path = "calls") -> pd.DataFrame:
    missing = [c for c in CALL_COLUMNS if c not in calls.columns]
    if missing:
        raise InputError(where, f"missing column(s) {missing}; need {list(CALL_COLUMNS)}")
    out = calls[list(CALL_COLUMNS)].copy()
    out["reader"], out["patient_id"] = out["reader"].astype(str), out["patient_id"].astype(str)
    for col in ("call_without", "call_with"):
        values = pd.to_numeric(out[col], errors="coerce")
        bad = out.loc[~values.isin([0, 1]), ["reader", "patient_id"]]
        if len(bad):
            r = bad.iloc[0]
            raise InputError(where, f"{col} must be 0 or 1 ({len(bad)} rows are not, first: reader {r.reader}, "
                                    f"patient {r.patient_id})")
        out[col] = values.astype(int)
    dup = out.duplicated(["reader", "patient_id"])
    if dup.any():
        r = out[dup].iloc[0]
        raise InputError(where, f"reader {r.reader} calls patient {r.patient_id} more than once")
    return out


def reader_study(calls: pd.DataFrame, truth: pd.Series, cohorts: pd.Series | None = None) -> ReaderStudy:
    """Analyse ``calls`` (``CALL_COLUMNS``) against ``truth`` (0/1 per patient_id; NaN = unknown, dropped).
    ``cohorts``: optional label per patient_id (e.g. training / validation), analysed separately."""
    from hccrisk.stats import clopper_pearson, cohen_kappa, fleiss_kappa

    calls = check_calls(calls)
    truth = pd.to_numeric(pd.Series(truth), errors="coerce").dropna()
    truth.index = truth.index.astype(str)
    unknown = sorted(set(calls.patient_id) - set(truth.index))
    calls = calls[calls.patient_id.isin(truth.index)]
    if calls.empty:
        raise InputError("calls", f"no called patient has a known outcome (e.g. {unknown[:3]})")
    labels = pd.Series("all", index=truth.index) if cohorts is None else pd.Series(cohorts).astype(str)
    rows, kappas = [], []
    for cohort in sorted(labels.loc[labels.index.isin(calls.patient_id)].unique()):
        sub = calls[calls.patient_id.map(labels) == cohort]
        for reader, r in sub.groupby("reader", sort=True):
            y = truth.loc[r.patient_id].to_numpy().astype(int)
            masks = {"sensitivity": y == 1, "specificity": y == 0, "accuracy": np.ones_like(y, bool)}
            for metric, m in masks.items():
                if not m.any():
                    continue
                right_before = (r.call_without.to_numpy() == y)[m]
                right_after = (r.call_with.to_numpy() == y)[m]
                ch = paired_change(right_before, right_after)
                ci_b, ci_a = clopper_pearson(int(right_before.sum()), ch.n), clopper_pearson(int(right_after.sum()), ch.n)
                rows.append({"cohort": cohort, "reader": reader, "metric": metric, "n": ch.n,
                             "without": ch.before, "without low": ci_b.low, "without high": ci_b.high,
                             "with": ch.after, "with low": ci_a.low, "with high": ci_a.high,
                             "change": ch.difference, "change low": ch.low, "change high": ch.high,
                             "McNemar P": ch.p_value, "test": ch.test})
        for condition in ("call_without", "call_with"):
            wide = sub.pivot(index="patient_id", columns="reader", values=condition).dropna()
            name = "without model" if condition == "call_without" else "with model"
            for a, b in combinations(wide.columns, 2):
                if wide[a].nunique() + wide[b].nunique() < 3 and (wide[a] == wide[b]).all():
                    continue  # a single category for both readers: kappa undefined
                k = cohen_kappa(wide[a], wide[b], categories=[0, 1])
                kappas.append({"cohort": cohort, "condition": name, "readers": f"{a} vs {b}", "statistic": "Cohen",
                               "kappa": k.kappa, "low": k.low, "high": k.high, "P": k.p_value})
            if wide.shape[1] >= 2 and wide.shape[0] >= 2 and wide.to_numpy().std() > 0:
                f = fleiss_kappa(wide.astype(int))
                kappas.append({"cohort": cohort, "condition": name, "readers": "all", "statistic": "Fleiss",
                               "kappa": f.kappa, "low": np.nan, "high": np.nan, "P": f.p_value})
    return ReaderStudy(pd.DataFrame(rows), pd.DataFrame(kappas))


def simulate_reader_calls(truth: pd.Series, model_probability: pd.Series, n_readers: int = 3, seed: int = 0,
                          shared: float = 0.7) -> pd.DataFrame:
    """Seeded calls of ``n_readers`` simulated readers for every patient with a known ``truth`` (0/1).

    Reader r's own evidence: e = d_r * y + sqrt(shared) * u + sqrt(1 - shared) * v_r (u common to all
    readers, v_r their own noise; d_r = 0.9, 0.7, 0.5 for decreasing experience). Without the model they
    call "yes" when e > d_r + 0.7: cautious, low sensitivity (~0.25-0.3, as the paper's clinicians), high
    specificity. With the model they weigh their evidence 0.35 and the model's standardised logit 0.65 and
    call "yes" above 0: the change follows the model's discrimination (none for a useless model).
    """
    y = pd.to_numeric(pd.Series(truth), errors="coerce").dropna()
    y.index = y.index.astype(str)
    p = pd.Series(model_probability).astype(float)
    p.index = p.index.astype(str)
    ids = [i for i in y.index if i in p.index and np.isfinite(p[i])]
    if not ids:
        raise InputError("model_probability", "no patient with both a known outcome and a model probability")
    rng = np.random.default_rng(seed)
    yv = y.loc[ids].to_numpy().astype(float)
    logit = np.log(np.clip(p.loc[ids].to_numpy(), 1e-6, 1 - 1e-6) / (1 - np.clip(p.loc[ids].to_numpy(), 1e-6, 1 - 1e-6)))
    z_model = (logit - np.median(logit)) / (logit.std() or 1.0)
    u = rng.standard_normal(len(ids))
    rows = []
    for r in range(n_readers):
        d = 0.9 - 0.2 * min(r, 2)
        evidence = d * yv + np.sqrt(shared) * u + np.sqrt(1 - shared) * rng.standard_normal(len(ids))
        without = (evidence > d + 0.7).astype(int)
        with_model = (0.35 * (evidence - d / 2) + 0.65 * z_model > 0).astype(int)
        rows.append(pd.DataFrame({"reader": f"reader{r + 1}", "patient_id": ids, "call_without": without,
                                  "call_with": with_model}))
    return pd.concat(rows, ignore_index=True)
