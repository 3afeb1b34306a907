"""Nomogram points arithmetic against R rms::nomogram on the same fitted logistic and Cox models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.report.figures import Nomogram, nomogram_figure
from tests.report._render import assert_no_text_overlap, render
from tests.stats.rref import requires_r, run_r


def _cohort(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 300
    d = pd.DataFrame({
        "age": rng.normal(60, 10, n).round(1),
        "afp": rng.normal(2, 1, n),
        "sex": rng.choice(["F", "M"], n),
        "bclc": rng.choice(["0", "A", "B"], n),
    })
    lp = 0.03 * (d.age - 60) + 0.5 * (d.afp - 2) + 0.4 * (d.sex == "M") + 0.8 * (d.bclc == "B")
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    t = rng.exponential(1 / (0.03 * np.exp(lp)))
    c = rng.uniform(10, 60, n)
    d["time"], d["ev"] = np.minimum(t, c), (t < c).astype(int)
    return d


# R prints the fitted model, rms's axes (values and points per predictor), its scale, and where the
# linear predictor and probability ticks fall on the total-points axis.
_R_AXES = r"""
d$sex <- factor(d$sex); d$bclc <- factor(d$bclc)
dd <- datadist(d); options(datadist = "dd")
axes <- function(nom) {
  out("sc", attr(nom, "info")$sc)
  for (v in c("age", "afp")) { out(paste0(v, "_values"), nom[[v]][[v]]); out(paste0(v, "_points"), nom[[v]]$points) }
  for (v in c("sex", "bclc")) out(paste0(v, "_points"), nom[[v]]$points)
  out("lp_values", nom$lp$x.real); out("lp_at", nom$lp$x)
  out("prob_values", nom[[length(nom)]]$x.real); out("prob_at", nom[[length(nom)]]$x)
  # rms places fun.at ticks by interpolating fun over a grid (accurate to ~1e-4 points); the exact
  # mapping is fun() of the linear predictor, which is linear in total points along rms's lp axis.
  tp <- seq(0, 150, by = 12.5)
  lp <- approxExtrap(nom$lp$x, nom$lp$x.real, xout = tp)$y
  out("tp_grid", tp); out("prob_grid", attr(nom, "info")$fun[[1]](lp))
}
"""


def _coefs(r: dict) -> dict:
    return {"age": r["b"][0], "afp": r["b"][1], "sex": {"F": 0.0, "M": r["b"][2]},
            "bclc": {"0": 0.0, "A": r["b"][3], "B": r["b"][4]}}


def _ranges(r: dict) -> dict:
    # rms draws each continuous axis over its pretty()-extended range; give ours the same ends.
    return {v: (r[f"{v}_values"].min(), r[f"{v}_values"].max()) for v in ("age", "afp")}


def _check_against_rms(nom: Nomogram, r: dict) -> None:
    assert nom.scale == pytest.approx(r["sc"][0], rel=1e-9)
    for v in ("age", "afp"):
        np.testing.assert_allclose(nom.predictor_points(v, r[f"{v}_values"]), r[f"{v}_points"], atol=1e-6)
    np.testing.assert_allclose(nom.predictor_points("sex", ["F", "M"]), r["sex_points"], atol=1e-6)
    np.testing.assert_allclose(nom.predictor_points("bclc", ["0", "A", "B"]), r["bclc_points"], atol=1e-6)
    np.testing.assert_allclose(nom.linear_predictor_to_total_points(r["lp_values"]), r["lp_at"], atol=1e-6)
    np.testing.assert_allclose(nom.total_points_to_probability(r["tp_grid"]), r["prob_grid"], atol=1e-6)
    np.testing.assert_allclose(nom.probability_to_total_points(r["prob_values"]), r["prob_at"], atol=1e-3)


@requires_r
@pytest.mark.r
def test_logistic_nomogram_matches_rms():
    d = _cohort(1)
    r = run_r(
        "suppressPackageStartupMessages(library(rms))\n" + _R_AXES + r"""
fit <- lrm(y ~ age + afp + sex + bclc, data = d)
out("a", coef(fit)[1]); out("b", coef(fit)[-1])
nom <- nomogram(fit, fun = plogis, fun.at = c(0.05, 0.1, 0.3, 0.5, 0.7, 0.9), lp = TRUE)
axes(nom)
p <- predict(fit, newdata = data.frame(age = 71.5, afp = 3.2, sex = "M", bclc = "A"), type = "fitted")
out("patient_p", p)
""", d=d)
    nom = Nomogram.from_logistic(_coefs(r), r["a"][0], _ranges(r))
    _check_against_rms(nom, r)
    patient = {"age": 71.5, "afp": 3.2, "sex": "M", "bclc": "A"}
    assert nom.predict(patient) == pytest.approx(r["patient_p"][0], abs=1e-9)


@requires_r
@pytest.mark.r
def test_cox_nomogram_matches_rms():
    d = _cohort(2)
    r = run_r(
        "suppressPackageStartupMessages(library(rms))\n" + _R_AXES + r"""
fit <- cph(Surv(time, ev) ~ age + afp + sex + bclc, data = d, x = TRUE, y = TRUE, surv = TRUE)
out("b", coef(fit)); out("means", fit$means)
surv <- Survival(fit)
out("s0", surv(24, 0))
nom <- nomogram(fit, fun = function(lp) surv(24, lp), fun.at = c(0.1, 0.3, 0.5, 0.7, 0.9), lp = TRUE)
axes(nom)
lp <- predict(fit, newdata = data.frame(age = 52, afp = 1.1, sex = "F", bclc = "B"))
out("patient_s", surv(24, lp))
""", d=d)
    m = r["means"]
    means = {"age": m[0], "afp": m[1], "sex": {"M": m[2]}, "bclc": {"A": m[3], "B": m[4]}}
    nom = Nomogram.from_cox(_coefs(r), r["s0"][0], _ranges(r), means, time=24)
    _check_against_rms(nom, r)
    patient = {"age": 52, "afp": 1.1, "sex": "F", "bclc": "B"}
    assert nom.predict(patient) == pytest.approx(r["patient_s"][0], abs=1e-9)
    # Survival falls as points rise.
    assert np.all(np.diff(nom.total_points_to_probability([0, 50, 100])) < 0)


def _hand_model() -> Nomogram:
    return Nomogram.from_logistic({"size": 0.5, "alb": -0.1, "child": {"A": 0.0, "B": 1.0}}, -1.0,
                                  {"size": (1, 9), "alb": (25, 55)})


def test_points_by_hand():
    nom = _hand_model()
    # size spans 0.5*8 = 4 logits (widest) -> 100 points; alb 3 logits -> 75; child 1 logit -> 25.
    assert nom.scale == pytest.approx(25.0)
    assert nom.points({"size": 5, "alb": 25, "child": "B"}) == pytest.approx({"size": 50, "alb": 75, "child": 25})
    assert nom.max_total_points == pytest.approx(200.0)
    # 0 points = intercept + size 1 + alb 55 + child A = -1 + 0.5 - 5.5 = -6 logits.
    assert nom.total_points_to_linear_predictor(0.0) == pytest.approx(-6.0)
    assert nom.predict({"size": 5, "alb": 25, "child": "B"}) == pytest.approx(1 / (1 + np.exp(-(-1 + 2.5 - 2.5 + 1))))


def test_bad_inputs_name_the_predictor():
    nom = _hand_model()
    with pytest.raises(InputError, match="child"):
        nom.points({"size": 5, "alb": 30, "child": "C"})
    with pytest.raises(InputError, match="alb"):
        nom.points({"size": 5, "child": "A"})
    with pytest.raises(InputError, match="size"):
        Nomogram.from_logistic({"size": 0.5}, 0.0, {})
    with pytest.raises(InputError, match="low < high"):
        Nomogram.from_logistic({"size": 0.5}, 0.0, {"size": (3, 3)})
    with pytest.raises(InputError, match="baseline survival"):
        Nomogram.from_cox({"size": 0.5}, 1.2, {"size": (1, 9)}, {"size": 4})


def test_nomogram_figure_renders_its_axes(tmp_path):
    nom = _hand_model()
    fig, numbers = nomogram_figure(nom, labels={"size": "Tumour size (cm)"},
                                   patient={"size": 5, "alb": 25, "child": "B"})
    render(fig, numbers, tmp_path, "nomogram")
    # The plotted ticks are where the arithmetic puts them.
    size_axis = numbers["predictors"]["size"]
    np.testing.assert_allclose(size_axis["points"], (np.asarray(size_axis["values"]) - 1) * 12.5)
    prob = numbers["probability_axis"]
    np.testing.assert_allclose(nom.total_points_to_probability(prob["total_points"]), prob["values"])
    assert numbers["patient"]["total_points"] == pytest.approx(150.0)
    assert numbers["total_points_axis"][-1] >= nom.max_total_points


def test_nomogram_labels_never_overlap():
    # Crowded on purpose: a short albumin axis and three tumour-number levels within 1.3 points.
    nom = Nomogram.from_logistic(
        {"dl": 2.1, "alb": -0.08, "afp": 0.45, "bclc": {"0": 0.0, "A": 0.05, "B": 0.9},
         "number": {"1": 0.0, "2": 0.1, "3+": 0.15}}, -1.2, {"dl": (-2.5, 3.0), "alb": (25, 55), "afp": (0, 5)})
    fig, numbers = nomogram_figure(nom, labels={"afp": "Alpha-fetoprotein (log10 ng/mL)"},
                                   patient={"dl": 0.4, "alb": 38, "afp": 2.2, "bclc": "A", "number": "2"})
    assert_no_text_overlap(fig)
    assert numbers["predictors"]["number"]["values"] == ["1", "2", "3+"]
    assert len(numbers["predictors"]["alb"]["values"]) >= 2


def test_patient_outside_the_axes_is_flagged(tmp_path):
    nom = _hand_model()
    patient = {"size": 12, "alb": 30, "child": "A"}  # size beyond the 1-9 cm axis
    fig, numbers = nomogram_figure(nom, patient=patient)
    render(fig, numbers, tmp_path, "nomogram_outside")
    assert numbers["patient"]["outside_range"] == ["size"]
    # Points extrapolate linearly, as reading the model off paper would if the axis went on.
    assert numbers["patient"]["points"]["size"] == pytest.approx((12 - 1) * 12.5)
    assert numbers["patient"]["probability"] == pytest.approx(nom.predict(patient))
