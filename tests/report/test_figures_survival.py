"""Kaplan-Meier and forest figures: rendered, and their plotted numbers checked against lifelines and
hand counts (the statistics themselves are checked against R in tests/stats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from hccrisk import stats
from hccrisk.errors import InputError
from hccrisk.report.figures import forest_figure, km_figure, risk_groups
from tests.report._render import render


@pytest.fixture(scope="module")
def survival_data():
    rng = np.random.default_rng(3)
    n = 200
    score = rng.normal(size=n)
    t = rng.exponential(30 * np.exp(-0.8 * score))
    c = rng.uniform(12, 72, n)
    return np.minimum(t, c).round(1), (t < c).astype(int), score


def test_risk_groups_from_cutoffs(survival_data):
    *_, score = survival_data
    groups = risk_groups(score, [-0.5, 0.5])
    assert set(groups) == {"Low risk", "Intermediate risk", "High risk"}
    assert np.all(groups[score >= 0.5] == "High risk")
    assert np.all(groups[score < -0.5] == "Low risk")
    with pytest.raises(InputError, match="cutoffs"):
        risk_groups(score, [0.5, -0.5])


def test_km_figure_matches_lifelines(survival_data, tmp_path):
    time, event, score = survival_data
    groups = risk_groups(score, [0.0])
    fig, numbers = km_figure(time, event, groups, group_order=["Low risk", "High risk"], max_time=60,
                             title="Validation cohort")
    render(fig, numbers, tmp_path, "km")
    assert list(numbers["groups"]) == ["Low risk", "High risk"]
    ticks = numbers["at_risk"]["times"]
    np.testing.assert_array_equal(ticks, [0, 12, 24, 36, 48, 60])
    for name, got in numbers["groups"].items():
        m = groups == name
        kmf = KaplanMeierFitter().fit(time[m], event[m])
        np.testing.assert_allclose(got["survival"], kmf.survival_function_at_times(got["time"]).to_numpy())
        np.testing.assert_array_equal(numbers["at_risk"][name], [(time[m] >= t).sum() for t in ticks])
        assert got["n"] == m.sum() and got["events"] == event[m].sum()
    ref = multivariate_logrank_test(time, groups, event)
    assert numbers["logrank"]["p_value"] == pytest.approx(ref.p_value, rel=1e-9)
    # The numbers at risk printed under the axis are the ones reported.
    table_ax = fig.axes[1]
    printed = [t.get_text() for t in table_ax.texts]
    assert printed == [str(v) for name in numbers["groups"] for v in numbers["at_risk"][name]]
    legend = fig.axes[0].get_legend()
    assert legend.get_title().get_text().startswith("Log-rank P")


def test_km_figure_rejects_unknown_group_order(survival_data):
    time, event, score = survival_data
    with pytest.raises(InputError, match="group_order"):
        km_figure(time, event, risk_groups(score, [0.0]), group_order=["Low risk", "Medium"])


def test_forest_figure_from_rows_and_cox_table(tmp_path):
    rows = [
        {"section": "Univariable", "label": "AFP > 400 ng/mL", "estimate": 2.1, "low": 1.3, "high": 3.4, "p": 0.002},
        {"section": "Univariable", "label": "Albumin (per g/L)", "estimate": 0.93, "low": 0.88, "high": 0.99, "p": 0.02},
        {"section": "Multivariable", "label": "DL score (per SD)", "estimate": 3.4, "low": 2.2, "high": 5.3, "p": 1e-6},
    ]
    fig, numbers = forest_figure(rows, measure="OR")
    render(fig, numbers, tmp_path, "forest")
    plot_ax = fig.axes[1]
    assert plot_ax.get_xscale() == "log"
    lo, hi = numbers["xlim"]
    assert lo < 0.88 and hi > 5.3 and lo < 1 < hi
    # Rows top to bottom: heading, two rows, heading, one row.
    assert [r["y"] for r in numbers["rows"]] == [3, 2, 0]
    texts = [t.get_text() for t in fig.axes[2].texts]
    assert "2.10 (1.30-3.40)" in texts and "< 0.001" in texts


def test_forest_figure_takes_statistics_tables(survival_data):
    time, event, score = survival_data
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"time": time, "event": event, "score": score, "noise": rng.normal(size=time.size)})
    cox = stats.cox_fit(df, "time", "event", ["score", "noise"])
    _, numbers = forest_figure(cox.table, measure="HR")
    assert [r["label"] for r in numbers["rows"]] == ["score", "noise"]
    np.testing.assert_allclose([r["estimate"] for r in numbers["rows"]], cox.table["hr"])
    np.testing.assert_allclose([r["p"] for r in numbers["rows"]], cox.table["p"])
    logit = sm.Logit((time < 12).astype(float), sm.add_constant(df[["score", "noise"]])).fit(disp=0)
    table = stats.logit_table(logit)
    _, numbers = forest_figure(table)
    np.testing.assert_allclose([r["high"] for r in numbers["rows"]], table["high"])
    assert [r["label"] for r in numbers["rows"]] == ["score", "noise"]


def test_forest_figure_rejects_log_coefficients():
    with pytest.raises(InputError, match="positive"):
        forest_figure([{"label": "afp", "estimate": -0.2, "low": -0.5, "high": 0.1}])
    with pytest.raises(InputError, match="afp.*outside"):
        forest_figure([{"label": "afp", "estimate": 3.0, "low": 1.0, "high": 2.0}])


def test_km_figure_one_curve_and_numeric_groups(survival_data, tmp_path):
    time, event, score = survival_data
    fig, numbers = km_figure(time, event, ylabel="Overall survival")
    render(fig, numbers, tmp_path, "km_all")
    assert list(numbers["groups"]) == ["All patients"] and numbers["logrank"] is None
    assert numbers["at_risk"]["All patients"][0] == time.size
    coded = (score > 0).astype(int)
    _, numbers = km_figure(time, event, coded, labels={0: "Low DL score", 1: "High DL score"})
    assert list(numbers["groups"]) == ["Low DL score", "High DL score"]
    assert numbers["groups"]["High DL score"]["n"] == coded.sum()
