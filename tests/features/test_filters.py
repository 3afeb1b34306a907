"""ICC, t/U-test, correlation and univariate-logistic filters: their rules, references and contracts."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from hccrisk.errors import InputError
from hccrisk.features import CorrelationFilter, ICCFilter, UnivariateLogisticFilter, UnivariateTestFilter
from hccrisk.stats import icc_per_feature
from tests.stats.rref import requires_r, run_r


def two_groups(seed=0, n=120):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int)
    X = pd.DataFrame({
        "normal_shift": rng.normal(size=n) + 0.6 * y,  # normal in each class: Welch t
        "skewed_shift": rng.lognormal(0.0, 1.0, n) * np.where(y == 1, 1.8, 1.0),  # skewed: Mann-Whitney U
        "normal_null": rng.normal(size=n),
        "skewed_null": rng.exponential(size=n),
        "constant": np.full(n, 3.0),
    })
    return X, y


def test_univariate_test_filter_chooses_test_by_normality_and_matches_scipy():
    X, y = two_groups(seed=1)
    f = UnivariateTestFilter().fit(X, y)
    assert list(f.tests_[:4]) == ["t", "U", "t", "U"]
    a, b = X[y == 0], X[y == 1]
    assert f.pvalues_[0] == pytest.approx(stats.ttest_ind(a.normal_shift, b.normal_shift, equal_var=False).pvalue, rel=1e-12)
    assert f.pvalues_[1] == pytest.approx(stats.mannwhitneyu(a.skewed_shift, b.skewed_shift, method="asymptotic").pvalue, rel=1e-12)
    assert f.pvalues_[4] == 1.0
    assert list(f.get_feature_names_out()) == ["normal_shift", "skewed_shift"]


@requires_r
@pytest.mark.parametrize("n", [120, 40])  # Mann-Whitney: normal approximation (n >= 50 per class), exact (< 50)
def test_univariate_test_filter_p_values_match_r(n):
    X, y = two_groups(seed=3, n=n)
    f = UnivariateTestFilter().fit(X, y)
    r = run_r("""
    g <- d$y == 1
    for (v in c("normal_shift", "skewed_shift")) {
      out(paste0("t_", v), t.test(d[[v]][!g], d[[v]][g])$p.value)
      out(paste0("u_", v), wilcox.test(d[[v]][!g], d[[v]][g])$p.value)
    }
    out("sw", c(shapiro.test(d$normal_shift[!g])$p.value, shapiro.test(d$skewed_shift[g])$p.value))
    """, d=X.assign(y=y))
    expected = [r[f"{'t' if test == 't' else 'u'}_{v}"][0] for v, test in zip(["normal_shift", "skewed_shift"], f.tests_)]
    np.testing.assert_allclose(f.pvalues_[:2], expected, rtol=1e-6)
    a, b = X[y == 0], X[y == 1]
    np.testing.assert_allclose([stats.shapiro(a.normal_shift).pvalue, stats.shapiro(b.skewed_shift).pvalue], r["sw"], rtol=1e-4)


def test_correlation_filter_drops_the_weaker_of_a_correlated_pair_whatever_the_column_order():
    rng = np.random.default_rng(1)
    n = 200
    y = rng.integers(0, 2, n)
    strong = y + rng.normal(scale=0.7, size=n)
    weak_copy = strong + rng.normal(scale=0.25, size=n)  # |r| with strong > 0.9, weaker with y
    other = rng.normal(size=n)
    X = pd.DataFrame({"weak_copy": weak_copy, "other": other, "strong": strong})
    assert abs(np.corrcoef(strong, weak_copy)[0, 1]) > 0.9
    f = CorrelationFilter(0.9).set_output(transform="pandas").fit(X, y)
    assert list(f.transform(X).columns) == ["other", "strong"]
    assert f.dropped_ == {"weak_copy": "strong"}
    f2 = CorrelationFilter(0.9).fit(X[["strong", "other", "weak_copy"]], y)
    assert list(f2.get_feature_names_out()) == ["strong", "other"]
    assert list(CorrelationFilter(0.9).fit(X).get_feature_names_out()) == ["weak_copy", "other"]  # no y: first column wins


def test_univariate_logistic_filter_matches_statsmodels_glm():
    X, y = two_groups(seed=2)
    f = UnivariateLogisticFilter(p=0.05).fit(X, y)
    for j, col in enumerate(X.columns[:4]):
        res = sm.Logit(y, sm.add_constant(X[col])).fit(disp=0)
        assert f.pvalues_[j] == pytest.approx(res.pvalues[col], rel=1e-7)
        assert f.coef_[j] == pytest.approx(res.params[col], rel=1e-7)
    assert f.pvalues_[4] == 1.0 and not f.support_[4]
    assert f.support_[0] and np.array_equal(f.support_, f.pvalues_ < 0.05)


def icc_tables(seed=4):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(30, 3))
    obs1 = pd.DataFrame(truth + rng.normal(scale=0.1, size=(30, 3)), columns=["stable", "also_stable", "unstable"],
                        index=[f"p{i}" for i in range(30)])
    obs2 = pd.DataFrame(truth + rng.normal(scale=0.1, size=(30, 3)), columns=obs1.columns, index=obs1.index)
    obs2["unstable"] = rng.normal(size=30)
    return obs1, obs2


def test_icc_filter_keeps_reproducible_features_by_name_and_ignores_y():
    obs1, obs2 = icc_tables()
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(80, 3)), columns=["unstable", "stable", "also_stable"])
    f = ICCFilter(obs1, obs2[["also_stable", "unstable", "stable"]], threshold=0.9).set_output(transform="pandas")
    out = f.fit_transform(X)
    assert list(out.columns) == ["stable", "also_stable"]
    expected = icc_per_feature(obs1, obs2, form="ICC2")["icc"]
    np.testing.assert_allclose(f.icc_["icc"], expected[["unstable", "stable", "also_stable"]], rtol=1e-12)
    y1, y2 = np.r_[np.zeros(40), np.ones(40)], np.r_[np.ones(40), np.zeros(40)]
    assert list(ICCFilter(obs1, obs2).fit(X, y1).support_) == list(ICCFilter(obs1, obs2).fit(X, y2).support_)


def test_icc_filter_names_the_missing_feature():
    obs1, obs2 = icc_tables()
    X = pd.DataFrame(np.zeros((5, 2)), columns=["stable", "not_extracted"])
    with pytest.raises(InputError, match="observer1.*not_extracted"):
        ICCFilter(obs1, obs2).fit(X)
    with pytest.raises(InputError, match="must be a DataFrame"):
        ICCFilter(None, obs2).fit(X)


@pytest.mark.parametrize("selector", [UnivariateTestFilter(), UnivariateLogisticFilter()])
def test_bad_outcomes_get_clear_errors(selector):
    X, _ = two_groups()
    with pytest.raises(InputError, match="two classes"):
        selector.fit(X, np.arange(len(X)) % 3)
    with pytest.raises(InputError, match="one class"):
        selector.fit(X, np.zeros(len(X)))
    with pytest.raises(InputError, match="NaN"):
        selector.fit(X.assign(normal_null=np.nan), np.arange(len(X)) % 2)
