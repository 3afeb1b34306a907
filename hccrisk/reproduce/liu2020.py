"""liu2020 (seed 003): CEUS Cox-CNN signatures of progression-free survival per treatment (R-RFA, R-SR),
Cox nomograms of 2-year PFS, and the treatment-swap analysis.

Per treatment: a 2:1 training/validation split, redrawn (one seeded generator) until no baseline
variable and not the PFS differ (P >= 0.05); the Cox-CNN (``hccrisk.nets.cox``) trained on the training
cohort; its log hazard is the signature. X-tile cut-off on the training cohort, applied unchanged to
validation; Kaplan-Meier with log-rank, Harrell's C with CI, HR high vs low. Nomogram: clinical
candidates + signature, backward AIC then P < 0.05, fitted on the training cohort; 2-year PFS calibration
(Hosmer-Lemeshow) and decision curves with and without the signature. Swap: R-SR applied to RFA patients
and R-RFA to SR patients, each with its own training cut-off; patients high-risk on their own treatment
but low-risk on the other get both nomograms' 2-year PFS (paired t test); those whose other-treatment PFS
is higher "should swap" (compared with truth.csv ``better_off_swapped`` on a synthetic cohort).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hccrisk.cohort import load_cohort
from hccrisk.errors import InputError
from hccrisk.log import get_logger
from hccrisk.nets.cox import CoxTrainConfig, predict_log_hazard
from hccrisk.nets.cox_cohort import TREATMENTS, load_cox_cases, train_cox_model
from hccrisk.reproduce.common import cohort_meta, ensure_ingested, resolve_paths

log = get_logger(__name__)

PAPER = "liu2020"
SPLIT_RATIO = (2, 1)
HORIZON = 24.0  #: months: the nomograms' 2-year PFS
TIME, EVENT = "pfs_time", "pfs_event"
#: Baseline variables that must not differ between training and validation (paper's Table 2).
BALANCE = ("age", "sex", "hbv", "cirrhosis", "afp", "alt", "tbil", "pt", "alb", "wbc", "plt", "tumour_size")
BALANCE_CATEGORICAL = ("sex", "hbv", "cirrhosis")
#: Nomogram candidates (paper: age, cirrhosis, etiology, AFP, ALT, WBC, PLT, PT, TBIL, ALB, tumour size,
#: ALBI; perivascular / peripheral location are not in clinical.csv). AFP on the log10 scale.
CANDIDATES = ("age", "cirrhosis", "hbv", "log10_afp", "alt", "wbc", "plt", "pt", "tbil", "alb", "tumour_size", "albi")
SIGNATURE = "signature"
#: Swap flags compared with the truth: the received treatment's high-risk group (every candidate comes
#: from it), the paper's candidates (also low-risk under the other model), those whose other nomogram's
#: 2-year PFS is higher.
SWAP_FLAGS = ("own_high_risk", "swap_candidate", "should_swap")
MAX_SPLIT_DRAWS = 200


@dataclass
class TreatmentArm:
    """One treatment's model, nomogram and their evaluation (tables ready to print)."""

    treatment: str
    split_tries: int
    baseline: pd.DataFrame
    pfs_logrank_p: float
    cutoff: Any  # XTileCutoff on the training signature
    performance: pd.DataFrame  # per cohort: n, events, C (CI), HR high vs low (CI), log-rank P, high-risk share
    selection_steps: pd.DataFrame
    nomogram_table: pd.DataFrame
    nomogram_covariates: list[str]
    nomogram_performance: pd.DataFrame  # per cohort: C-index (CI), Hosmer-Lemeshow, with / without signature
    nomogram: Any  # hccrisk.report.figures.Nomogram
    clinical_covariates: list[str]
    train_seconds: float


@dataclass
class Liu2020Result:
    """Every number the report shows. ``patients``: one row per patient (treatment, cohort, pfs, both
    signatures and risk groups, both nomograms' 2-year PFS, swap flags, truth when known)."""

    seed: int
    arms: dict[str, TreatmentArm]
    patients: pd.DataFrame
    cross_tables: dict[str, pd.DataFrame]
    swap_tests: pd.DataFrame
    swap_truth: pd.DataFrame
    truth_c_index: pd.DataFrame
    config: dict
    notes: list[str] = field(default_factory=list)


def add_albi(df: pd.DataFrame) -> pd.DataFrame:
    """ALBI score = 0.66 log10(bilirubin, umol/L) - 0.085 albumin (g/L) (Johnson et al. 2015)."""
    out = df.copy()
    out["albi"] = 0.66 * np.log10(out["tbil"].clip(lower=0.1)) - 0.085 * out["alb"]
    return out


def balanced_split(data: pd.DataFrame, seed: int) -> tuple[list[str], list[str], int, pd.DataFrame, float]:
    """2:1 split of one treatment's patients, stratified on the PFS event, redrawn until every baseline
    variable (``BALANCE``) and the PFS (log-rank) are n.s. (P >= 0.05). Returns (training ids, validation
    ids, random splits drawn in all, baseline table, PFS log-rank P)."""
    from hccrisk import stats
    from hccrisk.models.split import split_cohort

    rng = np.random.default_rng(seed)
    balance = [c for c in BALANCE if c in data]
    tries = 0
    for _ in range(MAX_SPLIT_DRAWS):
        split = split_cohort(data, ratio=SPLIT_RATIO, stratify=EVENT, seed=int(rng.integers(2**31 - 1)),
                             balance_on=balance, categorical=[c for c in BALANCE_CATEGORICAL if c in balance])
        tries += split.tries
        train, val = list(split.train), list(split.validation)
        group = np.where(data.index.isin(train), 1, 0)
        p = stats.logrank(data[TIME], data[EVENT], group).p_value
        if p >= 0.05:
            return train, val, tries, split.balance, float(p)
    raise InputError("split", f"no 2:1 split in {tries} draws had balanced baseline and PFS")


def _prepare(cohort: pd.DataFrame, cases: dict[str, np.ndarray]) -> pd.DataFrame:
    missing = [c for c in ("treatment", TIME, EVENT) if c not in cohort]
    if missing:
        raise InputError("cohort", f"no column(s) {missing}")
    data = add_albi(cohort.loc[[p for p in cohort.index if p in cases]])
    data = data[data[TIME].notna() & data[EVENT].notna()]
    data[EVENT] = data[EVENT].astype(int)
    for t in TREATMENTS:
        n = int((data.treatment == t).sum())
        if n < 12:
            raise InputError("cohort", f"only {n} {t} patients with a CEUS input and PFS; need >= 12")
    return data


def _impute(df: pd.DataFrame, columns: list[str], reference: pd.DataFrame) -> pd.DataFrame:
    """Missing values -> the training cohort's median (so every patient gets a nomogram prediction)."""
    out = df.copy()
    for c in columns:
        out[c] = out[c].astype(float).fillna(float(reference[c].median()))
    return out


def _select_nomogram(train: pd.DataFrame, notes: list[str], treatment: str) -> tuple[list[str], pd.DataFrame]:
    """Backward AIC from candidates + signature, then keep P < 0.05 (dropping the largest P one at a
    time): the paper's 'backward AIC, significant variables build the nomogram'. When the full model
    cannot be fitted (too few events for 13 covariates: monotone likelihood), the candidates are first
    screened by univariate Cox P < 0.20 (noted in the report)."""
    from hccrisk import stats

    candidates = [c for c in CANDIDATES if c in train and train[c].nunique() > 1] + [SIGNATURE]
    try:
        sel = stats.cox_backward_aic(train, TIME, EVENT, candidates)
    except InputError:
        keep = [c for c in candidates[:-1] if stats.cox_fit(train, TIME, EVENT, [c]).table.loc[c, "p"] < 0.20]
        notes.append(f"{treatment} nomogram: the Cox model of all {len(candidates)} candidates did not converge on "
                     f"{len(train)} training patients; backward AIC started from the univariate P < 0.20 screen "
                     f"({', '.join(keep) or 'none'}) + signature.")
        try:
            # (cox_backward_aic cannot weigh dropping a last covariate: a single one is kept as is)
            sel = stats.cox_backward_aic(train, TIME, EVENT, keep + [SIGNATURE]) if keep else None
        except InputError as exc:
            notes.append(f"{treatment} nomogram: backward AIC failed again ({exc}); the nomogram has the signature only.")
            sel = None
        if sel is None:
            return [SIGNATURE], pd.DataFrame([{"action": "keep", "covariate": SIGNATURE, "stage": "fallback"}])
    steps = sel.steps.assign(stage="backward AIC")
    kept = list(sel.selected)
    rows = []
    while kept:
        table = stats.cox_fit(train, TIME, EVENT, kept).table
        worst = table["p"].idxmax()
        if table.loc[worst, "p"] < 0.05:
            break
        kept.remove(worst)
        rows.append({"action": "drop", "covariate": worst, "p": float(table.loc[worst, "p"]), "stage": "P < 0.05"})
    return kept, pd.concat([steps, pd.DataFrame(rows)], ignore_index=True)


def _nomogram(fit: Any, train: pd.DataFrame) -> Any:
    from hccrisk.report.figures import Nomogram

    coefs: dict[str, Any] = {}
    ranges, means = {}, {}
    for c in fit.table.index:
        b, m = float(fit.table.loc[c, "coef"]), float(fit.means[c])
        if set(train[c].dropna().unique()) <= {0, 1}:  # 0/1 flags get a two-level axis, not 0.25 ticks
            coefs[c], means[c] = {"0": 0.0, "1": b}, {"0": 1 - m, "1": m}
        else:
            coefs[c], means[c] = b, m
            ranges[c] = (float(train[c].min()), float(train[c].max()))
    # S0(24) at the covariate means (the step function CoxFit predicts with)
    s0 = float(fit.predict_survival(pd.DataFrame([fit.means]), [HORIZON])[0, 0])
    return Nomogram.from_cox(coefs, s0, ranges, means, time=HORIZON)


def _status_at_horizon(df: pd.DataFrame) -> pd.Series:
    """1 progression-free at 2 years, 0 progressed (or died) before, NaN censored earlier (unknown)."""
    known = (df[EVENT] == 1) & (df[TIME] <= HORIZON) | (df[TIME] >= HORIZON)
    return pd.Series(np.where(df[TIME] >= HORIZON, 1.0, 0.0), index=df.index).where(known)


def _risk_performance(df: pd.DataFrame, marker: str, group: str, cohort_col: str = "cohort") -> pd.DataFrame:
    from hccrisk import stats

    rows = []
    for cohort in ("training", "validation"):
        d = df[df[cohort_col] == cohort]
        c = stats.harrell_c(d[TIME], d[EVENT], d[marker])
        row = {"cohort": cohort, "n": len(d), "events": int(d[EVENT].sum()), "C-index": c.c, "C low": c.low,
               "C high": c.high, "high-risk share": float(d[group].mean())}
        sizes = d.groupby(group)[EVENT].agg(["size", "sum"])
        if len(sizes) == 2 and (sizes["size"] >= 2).all() and (sizes["sum"] >= 1).all():  # else no finite HR
            hr = stats.cox_fit(d.assign(high=d[group].astype(float)), TIME, EVENT, ["high"]).table.loc["high"]
            row.update({"HR high vs low": hr["hr"], "HR low": hr["hr_low"], "HR high": hr["hr_high"],
                        "log-rank P": stats.logrank(d[TIME], d[EVENT], d[group]).p_value})
        rows.append(row)
    return pd.DataFrame(rows)


def _arm(treatment: str, data: pd.DataFrame, cases: dict[str, np.ndarray], seed: int, config: CoxTrainConfig,
         progress: bool, notes: list[str]) -> tuple[TreatmentArm, Any, Any, list[str]]:
    """Split, train, X-tile, nomograms of one treatment. Returns (arm, trained net, nomogram fit, train ids)."""
    from hccrisk import stats

    own = data[data.treatment == treatment]
    train, _, tries, baseline, p_pfs = balanced_split(own, seed)
    t0 = _time.perf_counter()
    net = train_cox_model({p: cases[p] for p in train}, own[TIME].to_dict(), own[EVENT].to_dict(),
                          config, progress=progress)
    seconds = _time.perf_counter() - t0
    signature = pd.Series(predict_log_hazard(net, {p: cases[p] for p in own.index}, device="cpu"))
    own = own.assign(cohort=np.where(own.index.isin(train), "training", "validation"),
                     **{SIGNATURE: signature.reindex(own.index)})
    cut = stats.xtile_cutoff(own.loc[train, TIME], own.loc[train, EVENT], own.loc[train, SIGNATURE])
    own["high"] = stats.apply_cutoff(own[SIGNATURE], cut.cutoff)
    performance = _risk_performance(own, SIGNATURE, "high")

    fill = [c for c in CANDIDATES if c in own]
    own = _impute(own, fill, own.loc[train])
    chosen, steps = _select_nomogram(own.loc[train], notes, treatment)
    if SIGNATURE not in chosen:
        chosen = chosen + [SIGNATURE]  # the nomogram is built around the signature (as the paper's)
    fit = stats.cox_fit(own.loc[train], TIME, EVENT, chosen)
    clinical = [c for c in chosen if c != SIGNATURE]
    fit_clin = stats.cox_fit(own.loc[train], TIME, EVENT, clinical) if clinical else None
    nomo_rows = []
    for cohort in ("training", "validation"):
        d = own[own.cohort == cohort]
        status = _status_at_horizon(d)
        for name, f in (("nomogram", fit), ("clinical only", fit_clin)):
            if f is None:
                continue
            pfs2 = f.predict_survival(d, [HORIZON])[:, 0]
            c = stats.harrell_c(d[TIME], d[EVENT], f.linear_predictor(d))
            k = status.notna().to_numpy()
            hl = stats.hosmer_lemeshow(status[k].astype(int), np.clip(pfs2[k], 1e-6, 1 - 1e-6))
            nomo_rows.append({"model": name, "cohort": cohort, "n": len(d), "C-index": c.c, "C low": c.low,
                              "C high": c.high, "n with known 2-year status": int(k.sum()),
                              "Hosmer-Lemeshow chi2": hl.statistic, "HL P": hl.p_value})
    arm = TreatmentArm(treatment, tries, baseline, p_pfs, cut, performance, steps, fit.table.reset_index(), chosen,
                       pd.DataFrame(nomo_rows), _nomogram(fit, own.loc[train]), clinical, seconds)
    return arm, net, (fit, fit_clin, fill, own.loc[train]), train


def analyse(cohort: pd.DataFrame, cases: dict[str, np.ndarray], seed: int = 0, config: CoxTrainConfig | None = None,
            progress: bool = True) -> Liu2020Result:
    """The liu2020 analysis on a cohort table (``load_cohort``, with truth.csv when available) and each
    patient's Cox-CNN input ({patient: (K, 3, T, H, W)}, ``load_cox_cases``)."""
    from hccrisk import stats

    config = config or CoxTrainConfig(seed=seed)
    data = _prepare(cohort, cases)
    arms, fits, nets = {}, {}, {}
    notes: list[str] = []
    patients = data[["treatment", TIME, EVENT]].copy()
    for t in TREATMENTS:
        arm, net, fit, train = _arm(t, data, cases, seed, config, progress, notes)
        arms[t], fits[t], nets[t] = arm, fit, net
        ids = data.index[data.treatment == t]
        patients.loc[ids, "cohort"] = np.where(ids.isin(train), "training", "validation")
    for t in TREATMENTS:  # both signatures and both nomograms for every patient
        sig = pd.Series(predict_log_hazard(nets[t], {p: cases[p] for p in data.index}, device="cpu"))
        patients[f"signature_{t}"] = sig.reindex(patients.index)
        patients[f"high_{t}"] = stats.apply_cutoff(patients[f"signature_{t}"], arms[t].cutoff.cutoff)
        fit, fit_clin, fill, ref = fits[t]
        x = _impute(data, fill, ref).assign(**{SIGNATURE: patients[f"signature_{t}"]})
        patients[f"pfs2y_{t}"] = fit.predict_survival(x, [HORIZON])[:, 0]
        if fit_clin is not None:  # the nomogram without the signature (decision curves)
            patients[f"pfs2y_clinical_{t}"] = fit_clin.predict_survival(x, [HORIZON])[:, 0]
    cross, tests, truth_rows = {}, [], []
    for t in TREATMENTS:
        other = "SR" if t == "RFA" else "RFA"
        d = patients[patients.treatment == t]
        ori = np.where(d[f"high_{t}"] == 1, "oriHR", "oriLR")
        re = np.where(d[f"high_{other}"] == 1, "reHR", "reLR")
        cross[t] = pd.crosstab(pd.Series(ori, name=f"R-{t} (own)"), pd.Series(re, name=f"R-{other} (swapped)"))
        cand = (d[f"high_{t}"] == 1) & (d[f"high_{other}"] == 0)
        patients.loc[d.index, "swap_candidate"] = cand.astype(int)
        should = cand & (d[f"pfs2y_{other}"] > d[f"pfs2y_{t}"])
        patients.loc[d.index, "should_swap"] = should.astype(int)
        hz = d[f"signature_{other}"]
        mw = _mann_whitney_p(hz[d[f"high_{other}"] == 0], hz[d[f"high_{other}"] == 1])
        row = {"treatment": t, "patients": len(d), "own high-risk": int((d[f"high_{t}"] == 1).sum()),
               "candidates (own HR, swapped LR)": int(cand.sum()),
               "share of own high-risk": cand.sum() / max(int((d[f"high_{t}"] == 1).sum()), 1),
               "share of group": cand.sum() / len(d), "Mann-Whitney P (swapped-model hazards, reLR vs reHR)": mw,
               "should swap (other PFS higher)": int(should.sum())}
        if cand.sum() >= 2:
            from scipy import stats as sps

            a, b = d.loc[cand, f"pfs2y_{t}"], d.loc[cand, f"pfs2y_{other}"]
            row.update({"2-y PFS own (mean)": a.mean(), "own SD": a.std(), "2-y PFS other (mean)": b.mean(),
                        "other SD": b.std(), "paired t P": float(sps.ttest_rel(b, a).pvalue)})
        tests.append(row)
    patients["own_high_risk"] = np.where(patients.treatment == "RFA", patients["high_RFA"], patients["high_SR"])
    if "better_off_swapped" in data:
        patients["better_off_swapped"] = data["better_off_swapped"]
        if {"p_pfs_2y_rfa", "p_pfs_2y_sr"} <= set(data):  # true 2-year PFS gain from the other treatment
            rfa, sr = data["p_pfs_2y_rfa"], data["p_pfs_2y_sr"]
            patients["true_gain_swapped"] = np.where(patients.treatment == "RFA", sr - rfa, rfa - sr)
        for t in (*TREATMENTS, "both"):
            d = patients if t == "both" else patients[patients.treatment == t]
            for flag in SWAP_FLAGS:
                truth_rows.append(_precision_recall(d, flag, t))
    truth_c = truth_c_index(data, patients) if "lp_recurrence" in data else pd.DataFrame()
    return Liu2020Result(seed, arms, patients, cross, pd.DataFrame(tests), pd.DataFrame(truth_rows), truth_c,
                         config.to_json(), notes)


def _mann_whitney_p(a: pd.Series, b: pd.Series) -> float:
    """Two-sided Mann-Whitney U P of two samples (NaN when one is empty)."""
    from scipy import stats as sps

    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def _precision_recall(d: pd.DataFrame, flag: str, treatment: str) -> dict:
    """One row of the swap-vs-truth table: how many of ``flag``'s patients are truly better off swapped,
    the one-sided hypergeometric P of that many or more among as many patients flagged at random, and the
    mean true 2-year PFS gain from the other treatment of the flagged and the other patients."""
    from scipy import stats as sps

    truth, found = d["better_off_swapped"].astype(int), d[flag].astype(int)
    tp, n_found, n_true = int(((truth == 1) & (found == 1)).sum()), int(found.sum()), int(truth.sum())
    row = {"treatment": treatment, "flag": flag, "patients": len(d), "truly better off swapped": n_true,
           "flagged": n_found, "true positives": tp, "precision": tp / n_found if n_found else float("nan"),
           "recall": tp / n_true if n_true else float("nan"),
           "enrichment P": float(sps.hypergeom.sf(tp - 1, len(d), n_true, n_found)) if n_found and n_true else float("nan")}
    if "true_gain_swapped" in d:
        gain = d["true_gain_swapped"]
        row.update({"true gain flagged (mean)": float(gain[found == 1].mean()) if n_found else float("nan"),
                    "true gain others (mean)": float(gain[found == 0].mean()) if n_found < len(d) else float("nan")})
    return row


def truth_c_index(data: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """Harrell's C of each model's signature (``patients`` ``signature_RFA``/``signature_SR``, ``cohort``)
    next to that of the true linear predictor (``data`` = the cohort table with truth.csv's
    ``lp_recurrence``) on the same patients, the best a model can do, and their paired difference with its
    infinitesimal-jackknife SE (``stats.compare_c``): one row per model and cohort."""
    from hccrisk import stats

    rows = []
    for t in TREATMENTS:
        for cohort in ("training", "validation"):
            d = patients[(patients.treatment == t) & (patients.cohort == cohort)]
            model = stats.harrell_c(d[TIME], d[EVENT], d[f"signature_{t}"])
            true = stats.harrell_c(d[TIME], d[EVENT], data.loc[d.index, "lp_recurrence"])
            paired = stats.compare_c(d[TIME], d[EVENT], d[f"signature_{t}"], data.loc[d.index, "lp_recurrence"])
            rows.append({"model": f"R-{t}", "cohort": cohort, "n": len(d), "C model": model.c, "C low": model.low,
                         "C high": model.high, "C SE": model.se, "C true lp": true.c,
                         "C model - C true": paired.difference, "SE of difference": paired.se})
    return pd.DataFrame(rows)


def run(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None = None, seed: int = 0,
        workers: int | None = None, config: CoxTrainConfig | None = None) -> Path:
    """``hccrisk reproduce liu2020``: ingest (unless given), Cox-CNN inputs, analysis, report. Returns
    report.html's path. ``workers``: ingest processes and torch CPU threads of the trainings (default 1:
    on a shared, loaded machine one thread is several times faster than oversubscribed cores)."""
    import torch

    from hccrisk.reproduce.liu2020_report import write_liu2020_report

    t0 = _time.perf_counter()
    torch.set_num_threads(workers or 1)
    paths = resolve_paths(cohort_dir, out_dir, ingest_dir)
    ensure_ingested(paths, workers)
    cohort = load_cohort(paths.cohort, with_truth=(paths.cohort / "truth.csv").is_file())
    cases, failures = load_cox_cases(paths.ingest, paths.cohort, list(cohort.index))
    result = analyse(cohort, cases, seed=seed, config=config)
    path = write_liu2020_report(result, paths.out, paths.cohort, cohort_meta(paths.cohort), pd.DataFrame(failures),
                                _time.perf_counter() - t0)
    log.info("liu2020 report written to %s", path)
    return path
