"""liu2020: the split, the nomogram helpers, and the science checks on a synthetic CEUS cohort.

The science checks use one CEUS-only cohort (seed 0, 120 patients by default: the default cohort's
patients, whose CEUS cines and outcomes are identical to /work/cohorts/default's), ingested once per
session; ``hccrisk reproduce liu2020`` runs on it once (report checked), and the analysis runs again on
the same images with the signal-0 outcomes. ``HCCRISK_REPRO_DIR`` keeps the cohort and ingest between
sessions; ``HCCRISK_LIU2020_N`` sets the size. Cost: synth ~1 min, ingest ~0.5 min, two Cox-CNN
trainings per analysis (~0.5 min each at one thread).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.reproduce import liu2020

N_PATIENTS = int(os.environ.get("HCCRISK_LIU2020_N", "120"))
SEED = 0


@dataclass(frozen=True)
class Liu2020Run:
    cohort: Path
    ingest: Path
    report: Path  # the report folder of `run` on the signal-1 cohort
    signal0: liu2020.Liu2020Result


@pytest.fixture(scope="session")
def liu2020_run(tmp_path_factory) -> Liu2020Run:
    import torch

    from hccrisk.cohort import load_cohort
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.nets.cox_cohort import load_cox_cases
    from hccrisk.synth.cohort import cohort_tables, generate_cohort

    torch.set_num_threads(1)
    root = Path(os.environ["HCCRISK_REPRO_DIR"]) / "liu2020" if "HCCRISK_REPRO_DIR" in os.environ \
        else tmp_path_factory.mktemp("liu2020")
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


@pytest.mark.slow
def test_planted_signal_validation_c_index_near_the_truth(liu2020_run):
    table = pd.read_csv(liu2020_run.report / "tables" / "truth_c_index.csv")
    val = table[table.cohort == "validation"]
    print("\n" + val.to_string(index=False))
    for _, row in val.iterrows():
        # a validation C above the truth's is chance on ~20 patients, not a failure
        assert row["C model"] >= row["C true lp"] - 0.05, row.to_dict()


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
def test_swap_finds_the_planted_interaction(liu2020_run):
    """The flags find the truly better-off patients far better than flagging at random would: recall at
    least 3 x the share flagged (a random flag's expected recall), precision at least 2 x the base rate.
    Seed 0 (the default): 11 flagged, recall 0.48, precision 0.91 with the phase-split generator (issue 6;
    0.62 / 0.87 before, when every CEUS phase showed all of the aggressiveness). Not robust: seeds 1 and 2
    flagged 3 and 1 patients with the old generator (recall 0.14 and 0.00), see docs/papers/liu2020.md
    'Other seeds'."""
    table = pd.read_csv(liu2020_run.report / "tables" / "swap_truth.csv")
    both = table[(table.treatment == "both")].set_index("flag")
    print("\n" + table.to_string(index=False))
    found = both.loc["swap_candidate"]
    base_rate = found["truly better off swapped"] / found["patients"]
    assert found["recall"] >= 3 * found["flagged"] / found["patients"]
    assert found["precision"] >= 2 * base_rate
