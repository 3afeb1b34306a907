"""liu2020: the split, the nomogram helpers, and the science checks on a synthetic CEUS cohort.

The science checks use one CEUS-only cohort (seed 0, 120 patients by default: the default cohort's
patients, whose CEUS cines and outcomes are identical to /work/cohorts/default's), ingested once per
module (and removed after it); ``hccrisk reproduce liu2020`` runs on it once (report checked), and the
analysis runs again on the same images with the signal-0 outcomes. ``HCCRISK_REPRO_DIR`` keeps the cohort
and ingest between sessions; ``HCCRISK_LIU2020_N`` sets the size. Cost (2026-11-25, shared 2-core
machine, load 6-9): from scratch 218 s wall, 115 s CPU (synth, ingest, two analyses of two Cox-CNN
trainings, ~15 s each at one thread); with the cohort kept by ``HCCRISK_REPRO_DIR`` 105 s wall, 52 s CPU.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.reproduce import liu2020
from tests.scratch import scratch_folder

N_PATIENTS = int(os.environ.get("HCCRISK_LIU2020_N", "120"))
SEED = 0


@dataclass(frozen=True)
class Liu2020Run:
    cohort: Path
    ingest: Path
    report: Path  # the report folder of `run` on the signal-1 cohort
    signal0: liu2020.Liu2020Result


@pytest.fixture(scope="module")
def liu2020_run(request, tmp_path_factory) -> Iterator[Liu2020Run]:
    import torch

    torch.set_num_threads(1)
    with scratch_folder(request, tmp_path_factory, "liu2020", "HCCRISK_REPRO_DIR", "liu2020") as root:
        yield _liu2020_run(root, tmp_path_factory)


def _liu2020_run(root: Path, tmp_path_factory) -> Liu2020Run:
    from hccrisk.cohort import load_cohort
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.nets.cox_cohort import load_cox_cases
    from hccrisk.synth.cohort import cohort_tables, generate_cohort

    cohort, ingested = root / f"cohort{N_PATIENTS}", root / f"ingest{N_PATIENTS}"
    if not (cohort / "cohort.json").is_file():
        generate_cohort(cohort, N_PATIENTS, SEED, 1.0, "ceus", "default", None, progress=False)
    if not (ingested / "manifest.csv").is_file():
        ingest(cohort / "dicom", ingested, progress=False)
    out = tmp_path_factory.mktemp("liu2020-report")
    liu2020.run(cohort, out, ingested, seed=SEED)
    tables = cohort_tables(N_PATIENTS, SEED, 0.0)  # same patients and images, outcomes independent of both
    folder = tmp_path_factory.mktemp("signal0")
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    table0 = load_cohort(folder, with_truth=True)
    cases, _ = load_cox_cases(ingested, cohort, list(table0.index), progress=False)
    return Liu2020Run(cohort, ingested, out, liu2020.analyse(table0, cases, seed=SEED, progress=False))


# ---------------------------------------------------------------------------------------------- fast
def _toy_cohort(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(57, 10, n), "sex": rng.choice(["M", "F"], n), "hbv": rng.integers(0, 2, n),
        "cirrhosis": rng.integers(0, 2, n), "afp": rng.lognormal(3, 2, n), "alt": rng.normal(40, 10, n),
        "tbil": rng.normal(15, 4, n), "pt": rng.normal(12, 1, n), "alb": rng.normal(40, 4, n),
        "wbc": rng.normal(6, 2, n), "plt": rng.normal(150, 50, n), "tumour_size": rng.uniform(1, 5, n),
        "pfs_time": rng.exponential(20, n), "pfs_event": rng.integers(0, 2, n)},
        index=[f"p{i}" for i in range(n)])


def test_balanced_split_is_2_to_1_balanced_and_seeded():
    from hccrisk import stats

    data = _toy_cohort()
    train, val, tries, baseline, p = liu2020.balanced_split(data, seed=3)
    assert len(train) == 40 and len(val) == 20 and not set(train) & set(val)
    assert tries >= 1 and p >= 0.05
    assert (pd.to_numeric(baseline["p_value"], errors="coerce").dropna() >= 0.05).all()
    group = data.index.isin(train).astype(int)
    assert stats.logrank(data.pfs_time, data.pfs_event, group).p_value == pytest.approx(p)
    assert liu2020.balanced_split(data, seed=3)[:3] == (train, val, tries)


def test_albi_and_two_year_status():
    df = pd.DataFrame({"tbil": [10.0, 20.0], "alb": [40.0, 30.0]})
    np.testing.assert_allclose(liu2020.add_albi(df)["albi"], [0.66 - 3.4, 0.66 * np.log10(20) - 2.55])
    d = pd.DataFrame({"pfs_time": [30.0, 10.0, 10.0, 24.0], "pfs_event": [1, 1, 0, 0]})
    status = liu2020._status_at_horizon(d)
    assert status.iloc[0] == 1 and status.iloc[1] == 0 and np.isnan(status.iloc[2]) and status.iloc[3] == 1


def test_analysis_names_what_is_missing():
    with pytest.raises(InputError, match="treatment"):
        liu2020.analyse(_toy_cohort(), {p: np.zeros((1, 3, 2, 16, 16), np.float32) for p in _toy_cohort().index})


# ---------------------------------------------------------------------------------------------- science
@pytest.mark.slow
def test_report_is_complete(liu2020_run):
    out = liu2020_run.report
    assert (out / "report.html").is_file()
    figures = json.loads((out / "figures.json").read_text())
    for name in ("km_rfa_validation", "km_sr_validation", "nomogram_rfa", "nomogram_sr", "calibration_rfa",
                 "decision_sr", "swap_pfs_rfa"):
        assert name in figures and (out / "figures" / f"{name}.png").is_file()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["split"]["RFA"]["tries"] >= 1 and prov["split"]["SR"]["pfs_logrank_p"] >= 0.05
    patients = pd.read_csv(out / "tables" / "patients.csv", index_col=0)
    assert len(patients) == N_PATIENTS
    for col in ("signature_RFA", "signature_SR", "pfs2y_RFA", "pfs2y_SR"):
        assert patients[col].notna().all()
    assert patients[["pfs2y_RFA", "pfs2y_SR"]].stack().between(0, 1).all()


#: How far the signatures' validation C-index may lie below the true linear predictor's. The images do not
#: show liver reserve or tumour number (image-feature ceiling 0.02 below the truth on 6000 patients), and
#: ~40 training patients per model cost more: a Cox model on the true image features fitted on the same
#: training patients lies 0.03-0.05 below the truth on the validation patients, the Cox-CNN 0.07-0.09
#: (seeds 0-9, docs/papers/liu2020.md "Science checks"). 0.10 is the other papers' "within 0.10".
MARGIN_TO_TRUTH = 0.10
Z_ONE_SIDED_95 = 1.645


def pooled_validation(table: pd.DataFrame) -> tuple[float, float, float, float]:
    """(C, its SE, C - C true, its SE) of the two models pooled over their disjoint validation cohorts."""
    val = table[table.cohort == "validation"]
    return (val["C model"].mean(), float(np.sqrt((val["C SE"] ** 2).sum()) / 2),
            val["C model - C true"].mean(), float(np.sqrt((val["SE of difference"] ** 2).sum()) / 2))


def planted_signal_failures(table: pd.DataFrame) -> list[str]:
    """What fails in the planted-signal criterion for a ``liu2020.truth_c_index`` table (empty: it passes).

    The two models' validation cohorts are disjoint (~20 patients each), so their C-indices and their
    paired differences to the true lp are pooled as equal-weight means with SE sqrt(se1^2 + se2^2) / 2:
    (1) found the signal: the pooled C's one-sided 95% lower bound lies above 0.5; (2) near the truth: the
    pooled difference is not significantly (one-sided 5%) more than ``MARGIN_TO_TRUTH`` below 0. One model
    alone is not judged: at ~20 patients the SE of a C difference is ~0.07 (bootstrap), about the gap
    itself."""
    c, c_se, diff, diff_se = pooled_validation(table)
    failures = []
    if c - Z_ONE_SIDED_95 * c_se <= 0.5:
        failures.append(f"pooled validation C {c:.3f} (SE {c_se:.3f}) not above 0.5")
    if diff + MARGIN_TO_TRUTH < -Z_ONE_SIDED_95 * diff_se:
        failures.append(f"pooled C - C true {diff:.3f} (SE {diff_se:.3f}) significantly below -{MARGIN_TO_TRUTH}")
    return failures


@pytest.mark.slow
def test_planted_signal_validation_c_index_near_the_truth(liu2020_run):
    """The signatures found the planted signal on their validation patients and lie near the true lp
    (``planted_signal_failures``); and the criterion can fail: signatures shuffled among each model's
    validation patients (a model that learnt nothing) fail it in >= 80% of 50 shuffles (measured 96%)."""
    from hccrisk.cohort import load_cohort

    table = pd.read_csv(liu2020_run.report / "tables" / "truth_c_index.csv")
    print("\n" + table[table.cohort == "validation"].to_string(index=False))
    print("pooled C {:.3f} (SE {:.3f}), C - C true {:.3f} (SE {:.3f})".format(*pooled_validation(table)))
    assert not planted_signal_failures(table)

    data = load_cohort(liu2020_run.cohort, with_truth=True)
    patients = pd.read_csv(liu2020_run.report / "tables" / "patients.csv", index_col=0)
    rng = np.random.default_rng(0)
    failed = 0
    for _ in range(50):
        shuffled = patients.copy()
        for t in ("RFA", "SR"):
            ids = shuffled.index[(shuffled.treatment == t) & (shuffled.cohort == "validation")]
            shuffled.loc[ids, f"signature_{t}"] = shuffled.loc[rng.permutation(ids), f"signature_{t}"].to_numpy()
        failed += bool(planted_signal_failures(liu2020.truth_c_index(data, shuffled)))
    print(f"shuffled signatures: {failed} of 50 fail the criterion")
    assert failed >= 40


@pytest.mark.slow
def test_signal0_c_index_ci_contains_one_half(liu2020_run):
    """The leakage guard. Two models are checked at once, so each C-index gets a Bonferroni interval
    (97.5%, family-wise 95%) from its SE: with plain 95% intervals one of two independent models misses
    0.5 one time in ten by chance alone (seed 0: R-RFA 0.671, 95% CI 0.503-0.839 on 21 patients)."""
    from scipy import stats

    table = liu2020_run.signal0.truth_c_index
    val = table[table.cohort == "validation"].copy()
    z95, z_family = stats.norm.ppf(0.975), stats.norm.ppf(1 - 0.05 / (2 * len(val)))
    se = (val["C high"] - val["C low"]) / (2 * z95)
    val["family low"], val["family high"] = val["C model"] - z_family * se, val["C model"] + z_family * se
    print("\n" + val.to_string(index=False))
    assert ((val["family low"] <= 0.5) & (val["family high"] >= 0.5)).all()


@pytest.mark.slow
def test_swap_starts_from_the_patients_the_other_treatment_serves_better(liu2020_run):
    """The planted interaction makes SR better for aggressive tumours, so RFA patients high-risk under R-RFA
    (the group every RFA swap candidate comes from) must gain more true 2-year PFS from SR than RFA's
    low-risk group: one-sided Mann-Whitney P < 0.05 (measured <= 0.005 at seeds 0-9 of the split). The
    flags must be the paper's: candidates = high-risk under the received treatment's model and low-risk
    under the other's; 'should swap' = candidates whose other nomogram gives the higher 2-year PFS.

    Not asserted: the candidates' recall. The second condition (low-risk under the other model) depends on
    where R-SR's X-tile cut-off falls among the RFA patients: both signatures rank them alike (Spearman
    0.74-0.97), so the candidates are 0-18 of ~18 high-risk RFA patients at seeds 0-9 (recall 0-0.55); see
    docs/papers/liu2020.md "Science checks"."""
    from scipy import stats as sps

    table = pd.read_csv(liu2020_run.report / "tables" / "swap_truth.csv")
    print("\n" + table.to_string(index=False))
    patients = pd.read_csv(liu2020_run.report / "tables" / "patients.csv", index_col=0)
    other = patients.treatment.map({"RFA": "SR", "SR": "RFA"})
    high_other = pd.Series([patients.at[p, f"high_{o}"] for p, o in other.items()], index=patients.index)
    pfs_own = pd.Series([patients.at[p, f"pfs2y_{t}"] for p, t in patients.treatment.items()], index=patients.index)
    pfs_other = pd.Series([patients.at[p, f"pfs2y_{o}"] for p, o in other.items()], index=patients.index)
    candidate = (patients.own_high_risk == 1) & (high_other == 0)
    assert (patients.swap_candidate == candidate.astype(int)).all()
    assert (patients.should_swap == (candidate & (pfs_other > pfs_own)).astype(int)).all()

    rfa = patients[patients.treatment == "RFA"]
    high, low = rfa.true_gain_swapped[rfa.own_high_risk == 1], rfa.true_gain_swapped[rfa.own_high_risk == 0]
    p = sps.mannwhitneyu(high, low, alternative="greater").pvalue
    print(f"RFA true 2-year PFS gain from SR: high-risk {high.mean():.3f} (n {len(high)}), "
          f"low-risk {low.mean():.3f} (n {len(low)}), one-sided Mann-Whitney P {p:.2g}")
    assert p < 0.05
