"""Outcomes, true risks and clinical variables against the generating model and the contract."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from sklearn.metrics import roc_auc_score

from hccrisk.synth import outcomes
from hccrisk.synth.clinical import CLINICAL_COLUMNS, clinical_row
from hccrisk.synth.latent import draw_latents
from hccrisk.synth.outcomes import MODEL, cumulative_incidence_recurrence, draw_outcomes, true_risks

ARCHITECTURE_CLINICAL = ("patient_id age sex hbv cirrhosis child_pugh afp alb ast alt ggt tbil pt plt wbc "
                         "tumour_size tumour_number treatment bclc").split()


@pytest.mark.parametrize("lp1, lp2, h", [(0.0, 0.0, 6.0), (1.7, -0.5, 12.0), (-2.0, 1.2, 24.0)])
def test_cumulative_incidence_matches_adaptive_quadrature(lp1, lp2, h):
    m = MODEL

    def density(u):  # h1(u) S1(u) S2(u)
        return (m.l1 * m.k1 * u ** (m.k1 - 1) * np.exp(lp1)
                * np.exp(-m.l1 * u ** m.k1 * np.exp(lp1) - m.l2 * u * np.exp(lp2)))

    ref, _ = quad(density, 0, h, limit=200, epsabs=1e-13)
    assert cumulative_incidence_recurrence(lp1, lp2, h) == pytest.approx(ref, abs=1e-9)


def test_simulated_outcomes_agree_with_true_probability():
    p = draw_latents(1, 2)[0]
    p = dataclasses.replace(p, aggressiveness=0.8)
    rows = pd.DataFrame([draw_outcomes(dataclasses.replace(p, seed=k), "RFA") for k in range(4000)])
    risk = true_risks(p, "RFA")
    for h in ("6m", "1y"):
        y = rows[f"er_{h}"].dropna()
        assert y.mean() == pytest.approx(risk[f"p_er_{h}"], abs=0.03)


def test_signal_zero_makes_outcomes_ignore_every_latent():
    p = draw_latents(1, 9, signal=0.0)[0]
    other = dataclasses.replace(p, aggressiveness=3.0, liver_reserve=-3.0, cirrhosis=True, tumour_number=3,
                                tumour_size_cm=9.0, age=80)
    assert draw_outcomes(p, "RFA") == draw_outcomes(other, "SR")
    assert true_risks(p, "RFA")["p_er_2y"] == true_risks(other, "SR")["p_er_2y"]


def test_sr_is_better_for_aggressive_tumours_only():
    p = draw_latents(1, 1)[0]
    hot, cold = dataclasses.replace(p, aggressiveness=1.0), dataclasses.replace(p, aggressiveness=-1.5)
    assert true_risks(hot, "RFA")["p_pfs_2y_sr"] > true_risks(hot, "RFA")["p_pfs_2y_rfa"] + 0.05
    assert true_risks(hot, "RFA")["better_off_swapped"] == 1
    assert true_risks(cold, "SR")["p_pfs_2y_rfa"] >= true_risks(cold, "SR")["p_pfs_2y_sr"]


def _cohort(signal: float, n: int = 1500):
    ps = draw_latents(n, 21, signal)
    clin = pd.DataFrame([clinical_row(p) for p in ps])
    out = pd.DataFrame([draw_outcomes(p, t) for p, t in zip(ps, clin.treatment)])
    risk = pd.DataFrame([true_risks(p, t) for p, t in zip(ps, clin.treatment)])
    a = np.array([p.aggressiveness for p in ps])
    return clin, out, risk, a


def test_planted_signal_present_at_one_and_absent_at_zero():
    clin, out, risk, a = _cohort(1.0)
    y = out.er_2y.notna()
    assert roc_auc_score(out.er_2y[y], risk.p_er_2y[y]) > 0.78
    afp = clin.afp.notna() & y
    assert roc_auc_score(out.er_2y[afp], clin.afp[afp]) > 0.6  # a clinical variable carries part
    clin0, out0, risk0, a0 = _cohort(0.0)
    y0 = out0.er_2y.notna()
    assert risk0.p_er_2y.nunique() == 1  # every patient has the same true risk
    assert abs(roc_auc_score(out0.er_2y[y0], a0[y0]) - 0.5) < 0.045  # ~3 SE at n = 1500
    assert abs(roc_auc_score(out0.er_2y[y0 & clin0.afp.notna()], clin0.afp[y0 & clin0.afp.notna()]) - 0.5) < 0.045


def test_outcome_rows_are_coherent():
    _, out, _, _ = _cohort(1.0, 400)
    assert list(out.columns) == list(outcomes.OUTCOME_COLUMNS)
    assert (out.os_time >= out.event_time).all() and (out.event_time > 0).all()
    assert set(out.event_type) == {0, 1, 2}
    assert (out.recurrence_event == (out.event_type == 1)).all()
    assert (out.pfs_event == (out.event_type > 0)).all()
    for name, h in outcomes.HORIZONS_MONTHS.items():
        er = out[f"er_{name}"]
        assert (er[(out.event_type == 1) & (out.event_time <= h)] == 1).all()
        assert er[(out.event_type == 0) & (out.event_time < h)].isna().all()
        assert (er[out.event_time > h] == 0).all()
    assert (out.retreatment[out.event_type != 1] == 0).all()


def test_clinical_columns_missingness_and_signal():
    assert list(CLINICAL_COLUMNS) == ARCHITECTURE_CLINICAL
    ps = draw_latents(2000, 8)
    clin = pd.DataFrame([clinical_row(p) for p in ps])
    lab = clin[["afp", "alb", "ast", "tbil", "plt"]]
    assert 0.015 < lab.isna().mean().mean() < 0.05
    assert clin[["age", "sex", "tumour_size", "tumour_number", "treatment"]].notna().all().all()
    a = pd.Series([p.aggressiveness for p in ps])
    r = pd.Series([p.liver_reserve for p in ps])
    assert np.log(clin.afp).corr(a, method="spearman") > 0.4
    assert clin.alb.corr(r, method="spearman") > 0.4
    assert set(clin.treatment) == {"RFA", "SR"} and set(clin.bclc) <= {"0", "A", "B"}
    assert set(clin.tumour_number) == {1, 2, 3}
