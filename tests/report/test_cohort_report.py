"""The cohort overview report (what ``hccrisk demo`` writes) and the cohort table loader."""

import json

import pandas as pd
import pytest

from hccrisk.cohort import load_cohort
from hccrisk.errors import InputError
from hccrisk.report.cohort import cohort_overview
from hccrisk.synth.cohort import cohort_tables


def _write_cohort(folder, n=200, seed=5, signal=1.0):
    tables = cohort_tables(n, seed, signal)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    (folder / "cohort.json").write_text(json.dumps({"seed": seed, "signal": signal, "n_patients": n}))
    return tables


def test_load_cohort_joins_tables_by_patient(tmp_path):
    tables = _write_cohort(tmp_path / "c", n=30)
    df = load_cohort(tmp_path / "c", with_truth=True)
    assert len(df) == 30 and df.index.is_unique
    row = df.loc["SYN0007"]
    clin = tables["clinical"].set_index("patient_id").loc["SYN0007"]
    out = tables["outcomes"].set_index("patient_id").loc["SYN0007"]
    assert row["alb"] == pytest.approx(clin["alb"], nan_ok=True)
    assert row["pfs_time"] == out["pfs_time"]
    assert "p_er_2y" in df and "log10_afp" in df


def test_load_cohort_names_the_missing_or_bad_table(tmp_path):
    _write_cohort(tmp_path / "c", n=20)
    (tmp_path / "c" / "outcomes.csv").unlink()
    with pytest.raises(InputError, match="outcomes.csv"):
        load_cohort(tmp_path / "c")
    _write_cohort(tmp_path / "d", n=20)
    clin = pd.read_csv(tmp_path / "d" / "clinical.csv")
    pd.concat([clin, clin.head(1)]).to_csv(tmp_path / "d" / "clinical.csv", index=False)
    with pytest.raises(InputError, match="SYN0001.*more than once"):
        load_cohort(tmp_path / "d")


def test_cohort_overview_writes_tables_figures_and_truth(tmp_path):
    _write_cohort(tmp_path / "c", n=200)
    html = cohort_overview(tmp_path / "c", tmp_path / "r")
    text = html.read_text()
    assert "Baseline by treatment" in text and "data:image/png;base64," in text
    baseline = pd.read_csv(tmp_path / "r" / "tables" / "baseline_by_treatment.csv")
    assert {"age", "afp", "alb", "sex"} <= set(baseline["variable"])
    numbers = json.loads((tmp_path / "r" / "figures.json").read_text())
    assert {"km_pfs_treatment", "km_os_treatment"} <= set(numbers)
    prov = json.loads((tmp_path / "r" / "provenance.json").read_text())
    # The planted signal: the true 2-year risk separates early recurrence well.
    assert prov["true_risk_auc"]["auc"] > 0.7
    multi = pd.read_csv(tmp_path / "r" / "tables" / "clinical_multivariable.csv")
    assert len(multi) >= 1  # some clinical variables carry part of the signal


def test_cohort_overview_is_deterministic(tmp_path):
    _write_cohort(tmp_path / "c", n=120)
    cohort_overview(tmp_path / "c", tmp_path / "r1")
    cohort_overview(tmp_path / "c", tmp_path / "r2")
    for name in ("baseline_by_treatment", "baseline_by_er", "clinical_univariate"):
        a = (tmp_path / "r1" / "tables" / f"{name}.csv").read_text()
        assert a == (tmp_path / "r2" / "tables" / f"{name}.csv").read_text()
