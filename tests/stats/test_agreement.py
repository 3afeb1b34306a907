"""agreement.py against psych::ICC / psych::cohen.kappa, Fleiss-Cohen-Everitt in base R, Shrout & Fleiss
1979 and Fleiss 1971 published values."""

import time

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import ICC_FORMS, cohen_kappa, fleiss_kappa, icc, icc_per_feature
from tests.stats.rref import requires_r, run_r

# Shrout & Fleiss 1979, Table 2: 6 targets x 4 judges
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])

# Fleiss 1971, Table 1 (irr's `diagnoses`): 30 patients x 6 ratings; 1 depression, 2 personality
# disorder, 3 schizophrenia, 4 neurosis, 5 other
FLEISS_1971 = """444444 222555 233335 555555 222444 113333 333355 113334 114444 555555 144444 124444 222333 144444
224445 333335 111455 111112 224444 133555 555555 244444 224555 114444 144445 222224 111155 224444 133333 555555"""

PSYCH_ICC = ('suppressMessages(library(psych)); r <- ICC(x, lmer = FALSE)$results; '
             'out("icc", as.matrix(r[, c("ICC", "F", "df1", "df2", "p", "lower bound", "upper bound")]))')


def ratings(n=30, k=3, seed=5):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=(n, 1)) * 2
    return np.round(true + rng.normal(size=(1, k)) * 0.7 + rng.normal(size=(n, k)), 1)


def test_icc_shrout_fleiss_published_values():
    table = icc(SHROUT_FLEISS).table
    np.testing.assert_allclose(table.icc.round(2), [0.17, 0.29, 0.71, 0.44, 0.62, 0.91])


@requires_r
@pytest.mark.parametrize("data", [SHROUT_FLEISS, ratings()], ids=["shrout_fleiss", "generated"])
def test_icc_all_forms_match_psych(data):
    ref = run_r(PSYCH_ICC, x=pd.DataFrame(data))["icc"].reshape(7, 6).T  # R flattens column-major
    got = icc(data).table[["icc", "F", "df1", "df2", "p_value", "low", "high"]].to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-12)
    assert list(icc(data).table.index) == list(ICC_FORMS)


def test_icc_per_feature_equals_icc_and_is_fast():
    rng = np.random.default_rng(0)
    n, f = 30, 1000
    base = pd.DataFrame(rng.normal(size=(n, f)), columns=[f"feat{i}" for i in range(f)], index=[f"p{i}" for i in range(n)])
    obs2 = base + rng.normal(scale=0.3, size=(n, f))
    t0 = time.perf_counter()
    table = icc_per_feature(base, obs2.iloc[::-1])  # rows in another order are aligned on the index
    assert time.perf_counter() - t0 < 1.0
    for j in (0, 517, 999):
        col = base.columns[j]
        expected = icc(np.column_stack([base[col], obs2[col]])).table.loc["ICC2"]
        np.testing.assert_allclose(table.loc[col, ["icc", "low", "high", "p_value"]].to_numpy(float),
                                   expected[["icc", "low", "high", "p_value"]].to_numpy(float), rtol=1e-10)
    assert (table.icc > 0.8).mean() > 0.9


def test_icc_per_feature_rejects_mismatched_features():
    a = pd.DataFrame({"x": [1.0, 2, 3], "y": [1.0, 2, 4]})
    with pytest.raises(ValueError, match="features differ"):
        icc_per_feature(a, a.rename(columns={"y": "z"}))


# Fleiss, Cohen & Everitt 1969 large-sample and null variances of weighted kappa, in base R
FCE = """
fce <- function(a, b, w) {
  x <- table(factor(a, levels = 1:4), factor(b, levels = 1:4)); N <- sum(x); x <- x/N
  r <- rowSums(x); cc <- colSums(x); po <- sum(w * x); pe <- sum(w * outer(r, cc))
  wi <- as.vector(w %*% cc); wj <- as.vector(r %*% w)
  v <- (sum(x * (w * (1 - pe) - outer(wi, wj, "+") * (1 - po))^2) - (po * pe - 2 * pe + po)^2)/(N * (1 - pe)^4)
  v0 <- (sum(outer(r, cc) * (w - outer(wi, wj, "+"))^2) - pe^2)/(N * (1 - pe)^2)
  k <- (po - pe)/(1 - pe)
  c(k, k - qnorm(0.975) * sqrt(v), k + qnorm(0.975) * sqrt(v), sqrt(v), 2 * pnorm(-abs(k/sqrt(v0))))
}
"""


@requires_r
def test_cohen_kappa_matches_psych_and_fce():
    rng = np.random.default_rng(3)
    a = rng.integers(1, 5, 80)
    b = np.clip(a + rng.integers(-1, 2, 80), 1, 4)
    ref = run_r(
        FCE + 'suppressMessages(library(psych)); k <- cohen.kappa(cbind(d$a, d$b)); '
        'out("psych", c(k$confid[1, ], k$var.kappa, k$weighted.kappa)); '
        'L <- 4; ij <- abs(outer(1:L, 1:L, "-")); '
        'kl <- cohen.kappa(cbind(d$a, d$b), w = 1 - ij/(L - 1)); out("psych_lin", kl$weighted.kappa); '
        'out("none", fce(d$a, d$b, diag(L))); out("lin", fce(d$a, d$b, 1 - ij/(L - 1))); '
        'out("quad", fce(d$a, d$b, 1 - ij^2/(L - 1)^2))',
        d=pd.DataFrame({"a": a, "b": b}),
    )
    k = cohen_kappa(a, b)
    np.testing.assert_allclose([k.low, k.kappa, k.high, k.se**2], ref["psych"][:4], rtol=1e-10)
    np.testing.assert_allclose([k.kappa, k.low, k.high, k.se, k.p_value], ref["none"], rtol=1e-8)
    quad, lin = cohen_kappa(a, b, "quadratic"), cohen_kappa(a, b, "linear")
    assert quad.kappa == pytest.approx(ref["psych"][4], rel=1e-10)
    assert lin.kappa == pytest.approx(ref["psych_lin"][0], rel=1e-10)
    # psych 2.2.9's weighted-kappa variance uses r_i * sum_j w_ij for the row term; FCE is used instead
    np.testing.assert_allclose(tuple(quad)[:5], ref["quad"], rtol=1e-8)
    np.testing.assert_allclose(tuple(lin)[:5], ref["lin"], rtol=1e-8)


def test_cohen_kappa_perfect_agreement_and_category_order():
    k = cohen_kappa(["lo", "hi", "mid", "hi"], ["lo", "hi", "mid", "hi"], categories=["lo", "mid", "hi"])
    assert k.kappa == pytest.approx(1.0)
    with pytest.raises(ValueError, match="categories"):
        cohen_kappa(["a", "b"], ["a", "c"], categories=["a", "b"])


def test_fleiss_kappa_fleiss_1971_worked_example():
    ratings = pd.DataFrame([list(row) for row in FLEISS_1971.split()]).astype(int)
    assert ratings.shape == (30, 6)
    k = fleiss_kappa(ratings)
    assert round(k.kappa, 3) == 0.430  # Fleiss 1971: kappa-bar = .430
    assert k.z == pytest.approx(17.652, abs=5e-4)  # irr::kappam.fleiss(diagnoses): z = 17.7
    np.testing.assert_allclose(k.categories.kappa.round(3), [0.245, 0.245, 0.520, 0.471, 0.566])
    np.testing.assert_allclose(k.categories.z.round(3), [5.192, 5.192, 11.031, 9.994, 12.009], atol=1e-3)
