"""calibration.py against R (hoslem.test's algorithm in base R, lowess, binom.test, rms::val.prob)."""

import numpy as np
import pytest
from scipy import stats

from hccrisk.stats import brier, calibration_curve, hosmer_lemeshow, val_prob
from tests.stats.binary_data import generated
from tests.stats.rref import requires_r, run_r

# ResourceSelection::hoslem.test (0.3-5), its algorithm verbatim in base R (the package is not in Debian)
HOSLEM = """
hoslem <- function(x, y, g = 10, drop_empty = FALSE) {
  yhat <- y; y <- x
  qq <- unique(quantile(yhat, probs = seq(0, 1, 1/g)))
  cutyhat <- cut(yhat, breaks = qq, include.lowest = TRUE)
  if (drop_empty) cutyhat <- droplevels(cutyhat)  # our documented deviation: empty groups skipped, not NaN
  observed <- xtabs(cbind(y0 = 1 - y, y1 = y) ~ cutyhat)
  expected <- xtabs(cbind(yhat0 = 1 - yhat, yhat1 = yhat) ~ cutyhat)
  chisq <- sum((observed - expected)^2/expected)
  c(chisq, g - 2, 1 - pchisq(chisq, g - 2))
}
"""


def test_hosmer_lemeshow_hand_computed():
    # 3 quantile groups {0.1, 0.2}, {0.3, 0.4}, {0.5, 0.6}; events 0, 1, 2; expected 0.3, 0.7, 1.1
    chisq = 0.09 / 0.3 + 0.09 / 1.7 + 0.09 / 0.7 + 0.09 / 1.3 + 0.81 / 1.1 + 0.81 / 0.9
    got = hosmer_lemeshow([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], groups=3)
    assert got.statistic == pytest.approx(chisq, rel=1e-12)
    assert got.df == 1 and got.p_value == pytest.approx(stats.chi2.sf(chisq, 1))


@requires_r
@pytest.mark.parametrize("groups", [10, 6])
def test_hosmer_lemeshow_matches_hoslem_algorithm(groups):
    g = generated()
    # p_old is rounded to 3 decimals (ties); p_coarse to 1 decimal so that quantile breaks coincide
    g["p_coarse"] = np.round(g.p_new, 1).clip(0.05, 0.95)
    ref = run_r(HOSLEM + f'out("a", hoslem(d$y, d$p_old, {groups})); out("b", hoslem(d$y, d$p_coarse, {groups}, TRUE))', d=g)
    np.testing.assert_allclose(tuple(hosmer_lemeshow(g.y, g.p_old, groups)), ref["a"], rtol=1e-10)
    np.testing.assert_allclose(tuple(hosmer_lemeshow(g.y, g.p_coarse, groups)), ref["b"], rtol=1e-10)


@requires_r
def test_calibration_curve_bins_and_lowess_match_r():
    g = generated()
    ref = run_r(
        'qq <- unique(quantile(d$p_old, seq(0, 1, 0.1))); grp <- cut(d$p_old, qq, include.lowest = TRUE); '
        'out("n", tapply(d$y, grp, length)); out("obs", tapply(d$y, grp, mean)); '
        'out("pred", tapply(d$p_old, grp, mean)); '
        'out("ci", unlist(lapply(split(d$y, grp), function(v) binom.test(sum(v), length(v))$conf.int))); '
        's <- lowess(d$p_old, d$y, iter = 0); out("sx", s$x); out("sy", s$y); '
        'ug <- cut(d$p_old, seq(0, 1, 0.2), right = FALSE); out("un", table(ug)[table(ug) > 0])',
        d=g,
    )
    curve = calibration_curve(g.y, g.p_old)
    np.testing.assert_array_equal(curve.bins.n, ref["n"])
    np.testing.assert_allclose(curve.bins.observed, ref["obs"], atol=1e-12)
    np.testing.assert_allclose(curve.bins.mean_predicted, ref["pred"], atol=1e-12)
    np.testing.assert_allclose(curve.bins[["low", "high"]].to_numpy().ravel(), ref["ci"], atol=1e-9)
    np.testing.assert_allclose(curve.smooth.predicted, ref["sx"], atol=1e-12)
    np.testing.assert_allclose(curve.smooth.observed, ref["sy"], atol=1e-9)
    uniform = calibration_curve(g.y, g.p_old, n_bins=5, strategy="uniform")
    np.testing.assert_array_equal(uniform.bins.n, ref["un"])


def test_brier_hand_computed():
    assert brier([0, 1, 1], [0.2, 0.6, 1.0]) == pytest.approx((0.04 + 0.16 + 0.0) / 3)


@requires_r
def test_val_prob_matches_rms():
    g = generated(n=400, seed=11)
    ref = run_r('suppressMessages(library(rms)); v <- val.prob(d$p_new, d$y, pl = FALSE); out("v", v[-6])', d=g)["v"]
    got = np.array(tuple(val_prob(g.y, g.p_new)))
    d_p = 5  # rms 6.5 returns NA for D:p; ours is the chi-square p of D:Chi-sq on 1 df
    assert got[d_p] == pytest.approx(stats.chi2.sf(ref[4], 1))
    np.testing.assert_allclose(np.delete(got, d_p), ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "y, p, match",
    [([0, 1, 1], [0.2, 1.3, 0.5], r"probabilities in \[0, 1\]"), ([0, 1], [0.2, 0.3, 0.4], "lengths differ")],
)
def test_bad_probabilities_are_rejected(y, p, match):
    with pytest.raises(ValueError, match=match):
        hosmer_lemeshow(y, p)
