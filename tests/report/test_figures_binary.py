"""ROC, calibration and decision-curve figures: rendered, and their plotted numbers checked independently
(scikit-learn and plain numpy here; the statistics themselves are checked against R in tests/stats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score, roc_curve

from hccrisk.errors import InputError
from hccrisk.report.figures import calibration_figure, decision_figure, roc_figure, roc_points
from tests.report._render import render


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(7)
    n = 240
    lp = rng.normal(size=n) * 1.3 - 0.3
    y = (rng.random(n) < expit(lp)).astype(float)
    models = {"CEUS-MP": (y, expit(lp + rng.normal(size=n) * 0.6)),
              "Clinical": (y, expit(0.5 * lp + rng.normal(size=n) * 0.8)),
              "Nomogram": (y, np.round(expit(1.2 * lp), 2))}  # rounded: tied scores
    cohorts = np.where(np.arange(n) < 160, "Training", "Validation")
    return models, cohorts


def test_roc_points_match_sklearn(cohort):
    models, _ = cohort
    for y, s in models.values():
        ours = roc_points(y.astype(int), s)
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        np.testing.assert_allclose(ours["fpr"], fpr)
        np.testing.assert_allclose(ours["tpr"], tpr)
        np.testing.assert_allclose(ours["thresholds"][1:], thr[1:])


def test_roc_figure_one_panel_per_cohort(cohort, tmp_path):
    models, cohorts = cohort
    fig, numbers = roc_figure(models, cohorts=cohorts)
    render(fig, numbers, tmp_path, "roc")
    assert list(numbers) == ["Training", "Validation"]
    assert len(fig.axes) == 2
    for ax, cohort_name in zip(fig.axes, numbers):
        mask = cohorts == cohort_name
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        for i, (name, (y, s)) in enumerate(models.items()):
            got = numbers[cohort_name][name]
            assert got["auc"] == pytest.approx(roc_auc_score(y[mask], s[mask]), abs=1e-12)
            assert got["low"] < got["auc"] < got["high"]
            assert got["n"] == mask.sum() and got["events"] == y[mask].sum()
            # The legend prints the plotted AUC and CI, and the curve drawn is the one reported.
            assert legend[i] == f"{name}: {got['auc']:.3f} ({got['low']:.3f}-{got['high']:.3f})"
            np.testing.assert_allclose(ax.lines[i].get_xydata(), np.c_[got["fpr"], got["tpr"]])


def test_roc_figure_drops_missing_rows_and_names_bad_models(cohort):
    models, _ = cohort
    y, s = models["CEUS-MP"]
    s_missing = s.copy()
    s_missing[:10] = np.nan
    _, numbers = roc_figure({"A": (y, s_missing)})
    assert numbers["all"]["A"]["n"] == y.size - 10
    with pytest.raises(InputError, match="B"):
        roc_figure({"A": (y, s), "B": (y[:-1], s[:-1])})
    with pytest.raises(InputError, match="0/1"):
        roc_figure({"A": (y * 2, s)})
    with pytest.raises(InputError, match="cohorts"):
        roc_figure({"A": (y, s)}, cohorts=["x"] * 3)


def test_calibration_figure_bins_and_histogram(cohort, tmp_path):
    models, cohorts = cohort
    fig, numbers = calibration_figure(models, cohorts=cohorts, n_bins=8)
    render(fig, numbers, tmp_path, "calibration")
    for cohort_name in ("Training", "Validation"):
        mask = cohorts == cohort_name
        for name, (y, p) in models.items():
            got = numbers[cohort_name][name]
            # Quantile groups as R's cut(p, quantile(p, 0:g/g), include.lowest=TRUE).
            groups = pd.qcut(p[mask], 8, labels=False, duplicates="drop")
            by = pd.DataFrame({"y": y[mask], "p": p[mask], "g": groups}).groupby("g")
            np.testing.assert_allclose(got["bins"]["observed"], by["y"].mean().to_numpy())
            np.testing.assert_allclose(got["bins"]["mean_predicted"], by["p"].mean().to_numpy())
            assert np.all(got["bins"]["low"] <= got["bins"]["observed"])
            assert np.all(got["bins"]["observed"] <= got["bins"]["high"])
            assert got["histogram"]["counts"].sum() == mask.sum()
            assert 0 <= got["hosmer_lemeshow"]["p_value"] <= 1
            assert got["brier"] == pytest.approx(np.mean((p[mask] - y[mask]) ** 2))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith("CEUS-MP (HL P") for t in legend)


def test_calibration_figure_rejects_scores_outside_0_1(cohort):
    models, _ = cohort
    y, p = models["CEUS-MP"]
    with pytest.raises(InputError, match="Logit.*\\[0, 1\\]"):
        calibration_figure({"Logit": (y, np.log(p / (1 - p)))})


def test_decision_figure_net_benefit(cohort, tmp_path):
    models, cohorts = cohort
    fig, numbers = decision_figure(models, cohorts=cohorts)
    render(fig, numbers, tmp_path, "decision")
    for ax, cohort_name in zip(fig.axes, ("Training", "Validation")):
        mask = cohorts == cohort_name
        got = numbers[cohort_name]
        pt = got["threshold"]
        y = models["CEUS-MP"][0][mask]
        odds = pt / (1 - pt)
        np.testing.assert_allclose(got["treat_all"], y.mean() - (1 - y.mean()) * odds)
        np.testing.assert_array_equal(got["treat_none"], 0.0)
        for i, (name, (_, p)) in enumerate(models.items()):
            treated = p[mask][None, :] >= pt[:, None]
            tp = (treated & (y == 1)).sum(1) / y.size
            fp = (treated & (y == 0)).sum(1) / y.size
            np.testing.assert_allclose(got["net_benefit"][name], tp - fp * odds)
            np.testing.assert_allclose(ax.lines[i].get_ydata(), got["net_benefit"][name])
        # At threshold 0 every model treats everyone: net benefit = prevalence.
        assert got["net_benefit"]["CEUS-MP"][0] == pytest.approx(y.mean())
