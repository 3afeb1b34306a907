"""hccrisk.stats.survival against R survival 3.5 (and scikit-survival / hand computations)."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import survival as sv
from tests.stats.rref import requires_r, run_r

# rref's out() cannot parse R's NA; NaN round-trips (float("NaN")), so R code here maps NA -> NaN.
NA_TO_NAN = "nan <- function(x) { x <- as.numeric(x); x[is.na(x)] <- NaN; x }\n"


def tied_cohort(n: int = 150, seed: int = 1) -> pd.DataFrame:
    """Integer-month times (many ties in time), tied and untied risk scores, three groups."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    event_time = rng.exponential(30 * np.exp(-0.7 * x))
    censor_time = rng.uniform(5, 60, size=n)
    return pd.DataFrame({
        "time": np.ceil(np.minimum(event_time, censor_time)),
        "status": (event_time <= censor_time).astype(int),
        "risk": x + rng.normal(scale=0.8, size=n),
        "risk2": np.round(x + rng.normal(scale=1.5, size=n)),  # coarse: ties in risk
        "grp": rng.integers(0, 3, size=n),
    })


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return tied_cohort()


@requires_r
def test_harrell_c_and_comparison_match_survival_concordance(cohort):
    got = run_r("""
        library(survival)
        for (v in c("risk", "risk2")) {
          f <- concordance(as.formula(paste("Surv(time, status) ~", v)), data = d, reverse = TRUE)
          out(paste0("c_", v), c(f$concordance, sqrt(f$var)))
        }
        # two predictors' covariance exactly as concordance(fit1, fit2) builds it: from the influences
        i1 <- concordance(Surv(time, status) ~ risk, data = d, reverse = TRUE, influence = 1)
        i2 <- concordance(Surv(time, status) ~ risk2, data = d, reverse = TRUE, influence = 1)
        out("var12", sum(i1$dfbeta * i2$dfbeta))
        # and through two Cox fits (positive coefficients, so their linear predictors order as the scores)
        f1 <- coxph(Surv(time, status) ~ risk, d); f2 <- coxph(Surv(time, status) ~ risk2, d)
        cc <- concordance(f1, f2)
        out("pair", c(coef(cc), cc$var))
        out("signs", c(coef(f1), coef(f2)))
    """, d=cohort)
    c1 = sv.harrell_c(cohort.time, cohort.status, cohort.risk)
    c2 = sv.harrell_c(cohort.time, cohort.status, cohort.risk2)
    np.testing.assert_allclose([c1.c, c1.se], got["c_risk"], rtol=0, atol=1e-10)
    np.testing.assert_allclose([c2.c, c2.se], got["c_risk2"], rtol=0, atol=1e-10)
    assert c1.low == pytest.approx(c1.c - 1.959963984540054 * c1.se) and c1.high > c1.c
    assert np.all(got["signs"] > 0)
    cmp = sv.compare_c(cohort.time, cohort.status, cohort.risk, cohort.risk2)
    c_pair, var = got["pair"][:2], got["pair"][2:].reshape(2, 2)
    np.testing.assert_allclose([cmp.c_a, cmp.c_b], c_pair, atol=1e-10)
    se_r = np.sqrt(var[0, 0] + var[1, 1] - 2 * var[0, 1])
    assert cmp.se == pytest.approx(se_r, abs=1e-10)
    assert var[0, 1] == pytest.approx(got["var12"][0], abs=1e-12)
    assert cmp.z == pytest.approx((c_pair[0] - c_pair[1]) / se_r, abs=1e-8)


def test_harrell_c_orientation_and_bad_input(cohort):
    c = sv.harrell_c(cohort.time, cohort.status, cohort.risk).c
    assert sv.harrell_c(cohort.time, cohort.status, -cohort.risk).c == pytest.approx(1 - c)
    with pytest.raises(ValueError, match="risk"):
        sv.harrell_c(cohort.time, cohort.status, cohort.risk[:-1])
    with pytest.raises(ValueError, match="negative"):
        sv.harrell_c(-cohort.time, cohort.status, cohort.risk)
    with pytest.raises(ValueError, match="NaN"):
        sv.harrell_c(cohort.time, cohort.status, np.r_[np.nan, cohort.risk[1:]])
    with pytest.raises(ValueError, match="0/1"):
        sv.harrell_c(cohort.time, cohort.status * 2, cohort.risk)


@requires_r
def test_logrank_matches_survdiff(cohort):
    got = run_r("""
        library(survival)
        s <- survdiff(Surv(time, status) ~ grp, data = d)
        out("lr", c(s$chisq, s$obs, s$exp))
        s2 <- survdiff(Surv(time, status) ~ I(risk > 0), data = d)
        out("lr2", s2$chisq)
    """, d=cohort)
    res = sv.logrank(cohort.time, cohort.status, cohort.grp)
    assert res.chisq == pytest.approx(got["lr"][0], abs=1e-8) and res.df == 2
    np.testing.assert_allclose(res.table.observed, got["lr"][1:4], atol=1e-10)
    np.testing.assert_allclose(res.table.expected, got["lr"][4:7], atol=1e-10)
    two = sv.logrank(cohort.time, cohort.status, cohort.risk > 0)
    assert two.chisq == pytest.approx(got["lr2"][0], abs=1e-8)


@requires_r
def test_kaplan_meier_matches_survfit(cohort):
    got = run_r(NA_TO_NAN + """
        library(survival)
        f <- survfit(Surv(time, status) ~ grp, data = d)
        out("time", f$time); out("surv", f$surv); out("nrisk", f$n.risk); out("ncens", f$n.censor)
        out("lower", nan(f$lower)); out("upper", nan(f$upper)); out("se", f$std.err * f$surv)
        tb <- summary(f)$table
        out("median", nan(tb[, "median"])); out("mlow", nan(tb[, "0.95LCL"])); out("mhigh", nan(tb[, "0.95UCL"]))
        s <- summary(f, times = c(6, 12, 24, 36, 80), extend = TRUE)
        out("at_surv", s$surv); out("at_risk", s$n.risk); out("at_event", s$n.event)
        out("at_low", nan(s$lower)); out("at_up", nan(s$upper))
    """, d=cohort)
    km = sv.kaplan_meier(cohort.time, cohort.status, cohort.grp, times=[6, 12, 24, 36, 80])
    tab = km.table
    np.testing.assert_allclose(tab.time, got["time"])
    np.testing.assert_allclose(tab.survival, got["surv"], atol=1e-12)
    np.testing.assert_allclose(tab.n_risk, got["nrisk"])
    np.testing.assert_allclose(tab.n_censor, got["ncens"])
    np.testing.assert_allclose(tab.std_err, got["se"], atol=1e-12)
    np.testing.assert_allclose(tab.lower, got["lower"], atol=1e-12)
    np.testing.assert_allclose(tab.upper, got["upper"], atol=1e-12)
    np.testing.assert_allclose(km.median[["median", "lower", "upper"]].to_numpy().T.ravel(),
                               np.r_[got["median"], got["mlow"], got["mhigh"]], atol=1e-12)
    at = km.at_times
    np.testing.assert_allclose(at.survival, got["at_surv"], atol=1e-12)
    np.testing.assert_allclose(at.n_risk, got["at_risk"])
    np.testing.assert_allclose(at.n_event, got["at_event"])
    np.testing.assert_allclose(at.lower, got["at_low"], atol=1e-12)
    np.testing.assert_allclose(at.upper, got["at_up"], atol=1e-12)


@requires_r
def test_kaplan_meier_median_on_a_flat_half_is_the_midpoint():
    d = pd.DataFrame({"time": [1, 2, 3, 4, 5, 6.0], "status": [1, 1, 1, 0, 1, 1]})
    got = run_r("library(survival); out('m', summary(survfit(Surv(time, status) ~ 1, d))$table['median'])", d=d)
    km = sv.kaplan_meier(d.time, d.status)
    assert km.median["median"][0] == pytest.approx(got["m"][0])
    assert km.median["group"][0] is None and km.at_times.empty
