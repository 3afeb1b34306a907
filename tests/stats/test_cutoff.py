"""hccrisk.stats.cutoff: the maximisation against a brute-force R survdiff loop, Miller-Siegmund in R base."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import cutoff as co
from tests.stats.rref import requires_r, run_r


def marker_cohort(n: int = 160, effect: float = 1.0, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    marker = np.round(rng.gamma(2.0, 50.0, size=n))  # AFP-like, with ties
    high = marker > np.quantile(marker, 0.6)
    event_time = rng.exponential(40 * np.exp(-effect * high))
    censor_time = rng.uniform(10, 70, size=n)
    return pd.DataFrame({"time": np.ceil(np.minimum(event_time, censor_time)),
                         "status": (event_time <= censor_time).astype(int), "marker": marker})


@requires_r
@pytest.mark.parametrize("min_group", [0.1, 0.2])
def test_xtile_matches_bruteforce_survdiff_and_formula(min_group):
    d = marker_cohort()
    got = run_r(f"""
        library(survival)
        eps <- {min_group}; n <- nrow(d)
        cand <- sort(unique(d$marker))
        nlow <- sapply(cand, function(c) sum(d$marker <= c))
        cand <- cand[nlow >= eps * n & nlow <= (1 - eps) * n & nlow < n]
        chi <- sapply(cand, function(c) survdiff(Surv(time, status) ~ I(marker > c), data = d)$chisq)
        b <- sqrt(max(chi)); e1 <- eps; e2 <- 1 - eps
        p_ms <- dnorm(b) * (b - 1 / b) * log(e2 * (1 - e1) / ((1 - e2) * e1)) + 4 * dnorm(b) / b
        out("cand", cand); out("chi", chi); out("best", cand[which.max(chi)]); out("p", min(1, p_ms))
    """, d=d)
    res = co.xtile_cutoff(d.time, d.status, d.marker, min_group=min_group)
    np.testing.assert_allclose(res.candidates.cutoff, got["cand"])
    np.testing.assert_allclose(res.candidates.chisq, got["chi"], rtol=1e-9)
    assert res.cutoff == got["best"][0]
    assert res.chisq == pytest.approx(got["chi"].max(), rel=1e-9)
    assert res.p_value == pytest.approx(got["p"][0], rel=1e-9) and res.p_method == "miller-siegmund"
    assert res.p_uncorrected < res.p_value  # the search costs significance
    assert res.n_low + res.n_high == len(d) and res.n_low == (d.marker <= res.cutoff).sum()


def test_permutation_p_is_seeded_and_separates_signal_from_noise():
    d = marker_cohort(effect=1.2)
    strong = co.xtile_cutoff(d.time, d.status, d.marker, n_permutations=199, seed=1)
    again = co.xtile_cutoff(d.time, d.status, d.marker, n_permutations=199, seed=1)
    assert strong.p_method == "permutation" and strong.p_value == again.p_value
    assert strong.p_value == pytest.approx(1 / 200)
    null = marker_cohort(effect=0.0, seed=8)
    res = co.xtile_cutoff(null.time, null.status, null.marker, n_permutations=199, seed=1)
    assert res.p_value > 0.05 and res.p_miller_siegmund > 0.05


def test_miller_siegmund_formula_values():
    # b = 3: phi(3) (3 - 1/3) log(81) + 4 phi(3) / 3, by hand
    phi3 = np.exp(-4.5) / np.sqrt(2 * np.pi)
    assert co.miller_siegmund_p(9.0, 0.1) == pytest.approx(phi3 * (8 / 3) * np.log(81) + 4 * phi3 / 3)
    assert co.miller_siegmund_p(0.64, 0.4) == 1.0  # the large-b approximation exceeds 1 here: capped


def test_apply_cutoff_and_bad_input():
    d = marker_cohort()
    res = co.xtile_cutoff(d.time, d.status, d.marker)
    groups = co.apply_cutoff(d.marker, res.cutoff)
    assert groups.sum() == res.n_high
    np.testing.assert_array_equal(co.apply_cutoff([res.cutoff, res.cutoff + 1], res.cutoff), [0, 1])
    with pytest.raises(ValueError, match="marker"):
        co.apply_cutoff([1.0, np.nan], 2.0)
    with pytest.raises(ValueError, match="min_group"):
        co.xtile_cutoff(d.time, d.status, d.marker, min_group=0.6)
    with pytest.raises(ValueError, match="marker"):
        co.xtile_cutoff(d.time, d.status, d.marker[:10])
