"""hccrisk.stats.competing against R cmprsk (cuminc, timepoints, crr)."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import competing as cr
from tests.stats.rref import requires_r, run_r

NA_TO_NAN = "nan <- function(x) { x <- as.numeric(x); x[is.na(x)] <- NaN; x }\n"


def competing_cohort(n: int = 220, seed: int = 2) -> pd.DataFrame:
    """Recurrence (1) vs death without recurrence (2), integer months: ties between all event types."""
    rng = np.random.default_rng(seed)
    x1, x2, grp = rng.normal(size=n), rng.integers(0, 2, n), rng.integers(0, 3, n)
    t_rec = rng.exponential(30 * np.exp(-0.5 * x1 - 0.3 * x2 - 0.4 * (grp == 2)))
    t_death = rng.exponential(50 * np.exp(0.3 * x1), size=n)
    t_cens = rng.uniform(5, 80, n)
    first = np.minimum(t_rec, t_death)
    return pd.DataFrame({"time": np.ceil(np.minimum(first, t_cens)),
                         "event": np.where(t_cens <= first, 0, np.where(t_rec < t_death, 1, 2)),
                         "x1": x1, "x2": x2, "age": rng.normal(60, 10, n).round(), "grp": grp})


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return competing_cohort()


@requires_r
@pytest.mark.parametrize("cause", [1, 2])
def test_fine_gray_matches_crr(cohort, cause):
    got = run_r(f"""
        library(cmprsk)
        f <- crr(d$time, d$event, cbind(d$x1, d$x2, d$age), failcode = {cause}, cencode = 0, gtol = 1e-10)
        se <- sqrt(diag(f$var))
        out("b", f$coef); out("se", se); out("p", 2 * pnorm(-abs(f$coef / se))); out("ll", c(f$loglik, f$loglik.null))
    """, d=cohort)
    fg = cr.fine_gray(cohort, "time", "event", cause, ["x1", "x2", "age"])
    np.testing.assert_allclose(fg.table.coef, got["b"], atol=1e-6)
    np.testing.assert_allclose(fg.table.se, got["se"], rtol=1e-6)
    np.testing.assert_allclose(fg.table.p, got["p"], rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(fg.table.hr, np.exp(got["b"]), rtol=1e-6)
    np.testing.assert_allclose(fg.table.hr_low, np.exp(got["b"] - 1.959963984540054 * got["se"]), rtol=1e-6)
    assert [fg.log_likelihood, fg.log_likelihood_null] == pytest.approx(list(got["ll"]), abs=1e-6)
    assert fg.converged and fg.events == (cohort.event == cause).sum() and fg.n == len(cohort)


@requires_r
def test_cumulative_incidence_and_gray_test_match_cuminc(cohort):
    got = run_r(NA_TO_NAN + """
        library(cmprsk)
        ci <- cuminc(d$time, d$event, d$grp)
        out("test", ci$Tests[, 1])
        for (g in 0:2) for (k in 1:2) {
          e <- ci[[paste(g, k)]]
          out(paste0("t", g, k), e$time); out(paste0("f", g, k), e$est); out(paste0("v", g, k), e$var)
        }
        tp <- timepoints(ci, c(6, 12, 24, 75))
        out("tp_est", nan(t(tp$est))); out("tp_var", nan(t(tp$var)))
    """, d=cohort)
    tp_est, tp_var = [], []
    for cause in (1, 2):
        res = cr.cumulative_incidence(cohort.time, cohort.event, cause, cohort.grp, times=[6, 12, 24, 75])
        assert res.chisq == pytest.approx(got["test"][cause - 1], rel=1e-9) and res.df == 2
        for g in range(3):
            tab = res.table[res.table.group == g]
            # cuminc lists step corners (0, t1, t1, t2, t2, ..., last follow-up); the jumps are entries 2, 4, ...
            key = f"{g}{cause}"
            np.testing.assert_allclose(tab.time, got["t" + key][2:-1:2])
            np.testing.assert_allclose(tab.cif, got["f" + key][2:-1:2], atol=1e-12)
            np.testing.assert_allclose(tab.variance, got["v" + key][2:-1:2], atol=1e-12)
            assert np.all((tab.lower <= tab.cif) & (tab.cif <= tab.upper))
        tp_est.append(res.at_times.cif.to_numpy())
        tp_var.append(res.at_times.variance.to_numpy())
    # timepoints rows: "0 1", "1 1", "2 1", "0 2", ...; ours: per cause, groups then times
    np.testing.assert_allclose(np.concatenate(tp_est), got["tp_est"], atol=1e-12)
    np.testing.assert_allclose(np.concatenate(tp_var), got["tp_var"], atol=1e-12)


def test_cumulative_incidence_without_competing_events_is_one_minus_km(cohort):
    from hccrisk.stats.survival import kaplan_meier
    single = cohort.assign(event=(cohort.event > 0).astype(int))
    res = cr.cumulative_incidence(single.time, single.event, 1)
    km = kaplan_meier(single.time, single.event).table
    km = km[km.n_event > 0]
    np.testing.assert_allclose(res.table.cif, 1 - km.survival, atol=1e-12)
    assert np.isnan(res.chisq) and res.df == 0


def test_competing_bad_input(cohort):
    with pytest.raises(ValueError, match="no event of cause 3"):
        cr.cumulative_incidence(cohort.time, cohort.event, 3)
    with pytest.raises(ValueError, match="codes"):
        cr.cumulative_incidence(cohort.time, cohort.event - 1, 1)
    with pytest.raises(ValueError, match="no column"):
        cr.fine_gray(cohort, "time", "event", 1, ["nope"])
    bad = cohort.copy()
    bad.loc[0, "time"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cr.fine_gray(bad, "time", "event", 1, ["x1"])
