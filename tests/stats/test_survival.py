"""hccrisk.stats.survival and survival_accuracy against R survival 3.5 (and scikit-survival / hand computations)."""

import numpy as np
import pandas as pd
import pytest

from hccrisk import stats as sv  # the public API (survival + survival_accuracy)
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
    assert cmp.difference == pytest.approx(c_pair[0] - c_pair[1], abs=1e-10)
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
        out("lr", s$chisq)
        s2 <- survdiff(Surv(time, status) ~ I(risk > 0), data = d)
        out("lr2", s2$chisq)
    """, d=cohort)
    chisq, df, p = sv.logrank(cohort.time, cohort.status, cohort.grp)
    assert chisq == pytest.approx(got["lr"][0], abs=1e-8) and df == 2
    assert p == pytest.approx(np.exp(-chisq / 2))  # chi-square survival function with 2 df
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


def censoring_km_at(time, status, at):
    """Hand KM of the censoring distribution (censorings are its events); at tied times events come first,
    so the censoring risk set at u leaves out the events at u (scikit-survival's and prodlim's convention)."""
    times = np.unique(time)
    n_risk = np.array([(time >= u).sum() - ((time == u) & (status == 1)).sum() for u in times])
    n_cens = np.array([((time == u) & (status == 0)).sum() for u in times])
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.cumprod(np.where(n_cens > 0, 1 - n_cens / n_risk, 1.0))
    idx = np.searchsorted(times, at, side="right") - 1
    return np.where(idx >= 0, g[np.maximum(idx, 0)], 1.0)


def test_time_dependent_auc_is_unos_ipcw_estimator(cohort):
    t, d, r = cohort.time.to_numpy(), cohort.status.to_numpy(), cohort.risk2.to_numpy()  # tied risks
    res = sv.time_dependent_auc(t, d, r, [6, 12, 24])
    with np.errstate(divide="ignore"):
        w = 1 / censoring_km_at(t, d, t)
    for k, horizon in enumerate([6, 12, 24]):
        case, control = (t <= horizon) & (d == 1), t > horizon
        wins = (r[case, None] > r[None, control]) + 0.5 * (r[case, None] == r[None, control])
        hand = (w[case, None] * wins).sum() / (w[case].sum() * control.sum())
        assert res.auc[k] == pytest.approx(hand, abs=1e-12)
    assert 0.5 < res.mean_auc < 1
    with pytest.raises(ValueError, match="follow-up"):
        sv.time_dependent_auc(t, d, r, [t.max() + 1])


def test_brier_score_is_grafs_ipcw_score(cohort):
    t, d = cohort.time.to_numpy(), cohort.status.to_numpy()
    horizons = np.array([6.0, 12, 24, 36])
    pred = np.exp(-np.outer(np.exp(cohort.risk), horizons) / 40)
    res = sv.brier_survival(t, d, pred, horizons)
    g_event, g_t = censoring_km_at(t, d, t), censoring_km_at(t, d, horizons)
    for k, h in enumerate(horizons):
        died, alive = (t <= h) & (d == 1), t > h
        with np.errstate(divide="ignore"):
            hand = np.mean(np.where(died, pred[:, k] ** 2 / g_event, 0)
                           + np.where(alive, (1 - pred[:, k]) ** 2 / g_t[k], 0))
        assert res.brier[k] == pytest.approx(hand, abs=1e-12)
    assert res.integrated == pytest.approx(np.trapezoid(res.brier, horizons) / (horizons[-1] - horizons[0]))
    km = sv.kaplan_meier(t, d, times=horizons).at_times.survival.to_numpy()
    null = sv.brier_survival(t, d, np.tile(km, (len(t), 1)), horizons)
    np.testing.assert_allclose(res.reference, null.brier, atol=1e-12)
    # an informative predictor (KM within halves of the risk score) beats the Kaplan-Meier null curve
    high = cohort.risk.to_numpy() > np.median(cohort.risk)
    strat = sv.kaplan_meier(t, d, high, times=horizons).at_times
    pred_strat = np.where(high[:, None], strat.survival[strat.group.astype(bool)].to_numpy()[None, :],
                          strat.survival[~strat.group.astype(bool)].to_numpy()[None, :])
    better = sv.brier_survival(t, d, pred_strat, horizons)
    assert better.integrated < better.reference_integrated
    with pytest.raises(ValueError, match="shape"):
        sv.brier_survival(t, d, pred[:, :2], horizons)


@requires_r
def test_survival_calibration_matches_demler_gnd(cohort):
    s12 = np.exp(-np.exp(cohort.risk.to_numpy()) * 12 / 40)
    res = sv.survival_calibration(cohort.time, cohort.status, s12, 12.0, groups=4)
    d = cohort.assign(pred=1 - s12, dec=pd.qcut(pd.Series(s12).rank(ascending=False, method="first"), 4,
                                                  labels=False))
    # Demler, Paynter & Cook (2015) GND.calib, base R + survival, administrative censoring at 12
    got = run_r("""
        library(survival)
        adm <- 12; d$tv <- pmin(d$time, adm); d$ev <- ifelse(d$time > adm, 0, d$status)
        km <- t(sapply(sort(unique(d$dec)), function(g) {
          f <- survfit(Surv(tv, ev) ~ 1, data = d[d$dec == g, ])
          k <- max(which(f$time <= adm))
          c(f$surv[k], f$std.err[k] * f$surv[k], mean(d$pred[d$dec == g]))
        }))
        comp <- ifelse(km[, 2] == 0, 0, ((1 - km[, 1]) - km[, 3])^2 / km[, 2]^2)
        out("chi", sum(comp)); out("p", 1 - pchisq(sum(comp), nrow(km) - 1)); out("obs", km[, 1])
    """, d=d)
    assert len(res.table) == 4 and res.table.n.sum() == len(cohort)
    np.testing.assert_allclose(res.table.observed, got["obs"], atol=1e-12)
    assert res.chisq == pytest.approx(got["chi"][0], rel=1e-10) and res.df == 3
    assert res.p_value == pytest.approx(got["p"][0], rel=1e-8)
    assert np.all((res.table.lower <= res.table.observed) & (res.table.observed <= res.table.upper))
    perfect = sv.survival_calibration(cohort.time, cohort.status, np.full(len(cohort), 0.5), 12.0, groups=2)
    assert perfect.table.predicted.tolist() == [0.5, 0.5]


def test_survival_nri_hand_cases():
    # no censoring before t = 5: KM fractions are plain proportions, so the NRI is the binary NRI
    time = np.array([1, 2, 3, 4, 6, 7, 8, 9, 10, 11.0])
    event = np.array([1, 1, 1, 1, 0, 1, 0, 0, 1, 0])
    old = np.full(10, 0.2)
    new = np.array([0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.5, 0.1, 0.1])  # 4 events by t=5: 3 up, 1 down
    res = sv.survival_nri(time, event, old, new, t=5, n_boot=0)
    assert res.nri_events == pytest.approx((3 - 1) / 4)
    assert res.nri_nonevents == pytest.approx((5 - 1) / 6)  # 6 event-free at 5: 5 down, 1 up
    assert res.nri == pytest.approx(0.5 + 4 / 6) and np.isnan(res.low)
    # with censoring before t: KM_up(5) over {1, 3(cens), 6}: 1 * (1 - 1/3) = 2/3; KM overall(5) by hand
    time2 = np.array([1, 3, 6, 2, 4, 7.0])
    event2 = np.array([1, 0, 0, 1, 1, 0])
    up_new = np.array([0.9, 0.9, 0.9, 0.1, 0.1, 0.1])
    res2 = sv.survival_nri(time2, event2, np.full(6, 0.5), up_new, t=5, n_boot=0)
    km_all = (5 / 6) * (4 / 5) * (2 / 3)  # deaths at 1, 2, then 4 with 3 at risk (3 censored)
    km_up, km_down = 2 / 3, (2 / 3) * (1 / 2)
    ev = (1 - km_up) * 0.5 / (1 - km_all) - (1 - km_down) * 0.5 / (1 - km_all)
    nonev = km_down * 0.5 / km_all - km_up * 0.5 / km_all
    assert res2.nri_events == pytest.approx(ev) and res2.nri_nonevents == pytest.approx(nonev)
    # categories: moving within a category is not reclassification
    res3 = sv.survival_nri(time, event, old, new, t=5, cutoffs=[0.3], n_boot=0)
    assert res3.p_down == 0 and res3.nri_events == pytest.approx(3 / 4)


def test_survival_nri_bootstrap_is_seeded(cohort):
    a = sv.survival_nri(cohort.time, cohort.status, cohort.risk2, cohort.risk, 12, n_boot=200, seed=3)
    b = sv.survival_nri(cohort.time, cohort.status, cohort.risk2, cohort.risk, 12, n_boot=200, seed=3)
    assert a == b and a.low < a.nri < a.high


@requires_r
@pytest.mark.parametrize("conf_type", ["log-log", "plain"])
def test_kaplan_meier_other_interval_types_match_survfit(cohort, conf_type):
    got = run_r(NA_TO_NAN + f"""
        library(survival)
        f <- survfit(Surv(time, status) ~ 1, data = d, conf.type = "{conf_type}", conf.int = 0.9)
        out("lower", nan(f$lower)); out("upper", nan(f$upper))
    """, d=cohort)
    km = sv.kaplan_meier(cohort.time, cohort.status, conf_level=0.9, conf_type=conf_type).table
    np.testing.assert_allclose(km.lower, got["lower"], atol=1e-12)
    np.testing.assert_allclose(km.upper, got["upper"], atol=1e-12)


def test_accuracy_functions_reject_bad_input(cohort):
    t, d = cohort.time, cohort.status
    with pytest.raises(ValueError, match="fewer groups"):
        sv.survival_calibration(t[:30], d[:30], np.linspace(0.1, 0.9, 30), 12.0, groups=10)
    with pytest.raises(ValueError, match="probabilities"):
        sv.survival_calibration(t, d, np.full(len(t), 1.5), 12.0)
    with pytest.raises(ValueError, match="follow-up"):
        sv.survival_nri(t, d, cohort.risk, cohort.risk2, t=1e6, n_boot=0)
    with pytest.raises(ValueError, match="probabilities"):
        sv.brier_survival(t, d, np.full((len(t), 1), np.nan), [12.0])
    with pytest.raises(ValueError, match="at least two groups"):
        sv.logrank(t, d, np.zeros(len(t)))


@requires_r
def test_logrank_and_km_with_string_groups_follow_r_factor_order(cohort):
    arm = np.where(cohort.grp == 0, "SR", "RFA")
    got = run_r("""
        library(survival)
        out("chisq", survdiff(Surv(time, status) ~ arm, data = d)$chisq)
        out("median", summary(survfit(Surv(time, status) ~ arm, data = d))$table[, "median"])
    """, d=cohort.assign(arm=arm))
    assert sv.logrank(cohort.time, cohort.status, arm).chisq == pytest.approx(got["chisq"][0], abs=1e-8)
    med = sv.kaplan_meier(cohort.time, cohort.status, arm).median
    assert med.group.tolist() == ["RFA", "SR"]
    np.testing.assert_allclose(med["median"], got["median"])


def test_harrell_c_interval_stays_inside_0_1():
    # Nearly perfect ranking on 8 subjects: C close to 1 with a wide SE; the Wald bound would pass 1.
    time = np.arange(1.0, 9.0)
    event = np.ones(8, dtype=int)
    risk = -time + np.array([0, 0, 0, 0, 0, 0, 1.5, 0])
    c = sv.harrell_c(time, event, risk)
    assert c.c + 1.96 * c.se > 1  # the raw bound overshoots here, so the clipping is exercised
    assert 0.0 <= c.low <= c.c <= c.high <= 1.0
