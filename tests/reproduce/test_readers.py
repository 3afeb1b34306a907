"""Reader study (huang2022): paired change of a proportion against R, the study on simulated readers, the
calls file's checks, and ``hccrisk readers simulate / analyse``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hccrisk.cli import _register, app
from hccrisk.errors import InputError
from hccrisk.reproduce.readers import paired_change, read_calls, reader_study, simulate_reader_calls
from tests.stats.rref import requires_r, run_r

_register()


@requires_r
@pytest.mark.parametrize("n, p_before, p_after, seed", [(40, 0.3, 0.8, 1), (200, 0.5, 0.55, 2), (15, 0.2, 0.3, 3)])
def test_paired_change_matches_r(n, p_before, p_after, seed):
    """McNemar P as R mcnemar.test (continuity corrected) or binom.test (exact, b + c < 25); the Wald CI of
    the paired difference written out in R from the same 2 x 2 table."""
    rng = np.random.default_rng(seed)
    before = (rng.random(n) < p_before).astype(int)
    after = np.where(rng.random(n) < 0.7, before | (rng.random(n) < p_after), (rng.random(n) < p_after)).astype(int)
    got = paired_change(before, after)
    ref = run_r("""
        b <- sum(x$before == 0 & x$after == 1); c <- sum(x$before == 1 & x$after == 0); n <- nrow(x)
        p <- if (b + c < 25) binom.test(b, b + c)$p.value else
             mcnemar.test(table(factor(x$before, 0:1), factor(x$after, 0:1)))$p.value
        d <- (b - c) / n; se <- sqrt(b + c - (b - c)^2 / n) / n
        out("p", p); out("ci", c(d, d - qnorm(0.975) * se, d + qnorm(0.975) * se)); out("bc", c(b, c))
    """, x=pd.DataFrame({"before": before, "after": after}))
    assert (got.b, got.c) == tuple(ref["bc"].astype(int))
    assert got.p_value == pytest.approx(ref["p"][0], rel=1e-9)
    assert [got.difference, got.low, got.high] == pytest.approx(list(ref["ci"]), abs=1e-12)


def _truth_and_model(n: int = 300, seed: int = 0, informative: bool = True) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    y = pd.Series((rng.random(n) < 0.4).astype(int), index=ids)
    logit = (2.0 * y - 1.0 if informative else 0.0) + rng.standard_normal(n)
    return y, pd.Series(1 / (1 + np.exp(-logit)), index=ids)


def test_readers_gain_sensitivity_and_agreement_with_an_informative_model():
    y, model = _truth_and_model()
    study = reader_study(simulate_reader_calls(y, model, n_readers=3, seed=0), y)
    sens = study.per_reader[study.per_reader.metric == "sensitivity"]
    assert len(sens) == 3
    assert (sens["without"] < 0.45).all()  # cautious readers, as the paper's clinicians
    assert (sens["change low"] > 0).all() and (sens["McNemar P"] < 0.001).all()
    fleiss = study.kappa[study.kappa.statistic == "Fleiss"].set_index("condition")["kappa"]
    assert fleiss["with model"] > fleiss["without model"]


def test_a_useless_model_does_not_improve_accuracy():
    y, model = _truth_and_model(informative=False, seed=1)
    study = reader_study(simulate_reader_calls(y, model, n_readers=3, seed=1), y)
    acc = study.per_reader[study.per_reader.metric == "accuracy"]
    assert not (acc["change low"] > 0).any()  # no reader's accuracy improves significantly


def test_simulated_calls_are_seeded():
    y, model = _truth_and_model(n=50)
    a, b = simulate_reader_calls(y, model, seed=3), simulate_reader_calls(y, model, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_reader_calls(y, model, seed=4))


def test_per_cohort_analysis_and_unknown_truth_dropped():
    y, model = _truth_and_model(n=120)
    calls = simulate_reader_calls(y, model, seed=0)
    y_missing = y.astype(float)
    y_missing.iloc[:10] = np.nan
    cohorts = pd.Series(np.where(np.arange(120) < 80, "training", "validation"), index=y.index)
    study = reader_study(calls, y_missing, cohorts=cohorts)
    sens = study.per_reader[study.per_reader.metric == "accuracy"].set_index(["cohort", "reader"])["n"]
    assert sens.loc["training"].eq(70).all() and sens.loc["validation"].eq(40).all()


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.drop(columns="call_with"), "missing column(s) ['call_with']"),
    (lambda df: df.assign(call_without=df.call_without.replace(1, 2)), "call_without must be 0 or 1"),
    (lambda df: pd.concat([df, df.iloc[:1]]), "more than once"),
])
def test_bad_calls_file_names_the_file_and_problem(tmp_path, edit, message):
    y, model = _truth_and_model(n=20)
    path = tmp_path / "calls.csv"
    edit(simulate_reader_calls(y, model)).to_csv(path, index=False)
    with pytest.raises(InputError) as err:
        read_calls(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_cli_simulate_then_analyse(tmp_path):
    from hccrisk.synth.cohort import cohort_tables

    tables = cohort_tables(80, seed=0, signal=1.0)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for name in ("clinical", "outcomes"):
        tables[name].to_csv(cohort / f"{name}.csv", index=False)
    tables["truth"][["patient_id", "p_er_1y"]].rename(columns={"p_er_1y": "DLR"}).to_csv(tmp_path / "pred.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(app, ["readers", "simulate", "--cohort", str(cohort), "--predictions", str(tmp_path / "pred.csv"),
                              "--out", str(tmp_path / "calls.csv"), "--seed", "2"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["readers", "analyse", str(tmp_path / "calls.csv"), "--cohort", str(cohort),
                              "--out", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    assert res.output.count("sensitivity") == 3
    table = pd.read_csv(tmp_path / "report" / "tables" / "readers.csv")
    assert set(table.reader) == {"reader1", "reader2", "reader3"}
    assert (tmp_path / "report" / "report.html").is_file()
    bad = runner.invoke(app, ["readers", "analyse", str(tmp_path / "pred.csv"), "--cohort", str(cohort),
                              "--out", str(tmp_path / "r2")])
    assert bad.exit_code == 2 and "pred.csv" in bad.output and "missing column" in bad.output
