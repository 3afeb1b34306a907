"""tables.py: test choice and p-values against R t.test / wilcox.test / chisq.test / fisher.test."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import baseline_table
from hccrisk.stats.tables import fisher_exact_rxc
from tests.stats.rref import requires_r, run_r


def cohort(seed=4):
    rng = np.random.default_rng(seed)
    n = 120
    grp = np.where(rng.uniform(size=n) < 0.4, "validation", "training")
    df = pd.DataFrame({
        "cohort": grp,
        "age": rng.normal(55, 10, n),                              # normal: Welch t
        "afp": np.round(np.exp(rng.normal(3, 1.5, n)), 1),         # skewed, ties: Mann-Whitney asymptotic
        "sex": rng.choice(["M", "F"], n, p=[0.8, 0.2]),            # chi-square (Yates)
        "bclc": rng.choice(["0", "A", "B"], n, p=[0.06, 0.8, 0.14]),  # small expected counts: Fisher r x 2
        "hbv": rng.choice([0, 1], n, p=[0.3, 0.7]),                # 0/1 numeric: categorical by default
        "child_pugh": np.where(np.arange(n) % 25 == 0, "B", "A"),  # 5 B: Fisher 2 x 2
    })
    df.loc[[3, 10, 50], "afp"] = np.nan
    df.loc[[7], "sex"] = None
    return df


def pvalues(table):
    return table[table.level.eq("") & table.variable.ne("n")].set_index("variable")[["p_value", "test"]]


@requires_r
def test_baseline_table_tests_and_p_values_match_r():
    df = cohort()
    got = pvalues(baseline_table(df, "cohort"))
    ref = run_r(
        'g <- d$cohort == "training"; d$sex[d$sex == ""] <- NA; '
        'out("age", t.test(d$age[g], d$age[!g])$p.value); '
        'out("afp", suppressWarnings(wilcox.test(d$afp[!g], d$afp[g])$p.value)); '
        'out("sex", chisq.test(table(d$sex, d$cohort))$p.value); '
        'out("bclc", fisher.test(table(d$bclc, d$cohort))$p.value); '
        'out("hbv", chisq.test(table(d$hbv, d$cohort))$p.value); '
        'out("child_pugh", fisher.test(table(d$child_pugh, d$cohort))$p.value)',
        d=df,
    )
    assert got.loc["age", "test"] == "Welch t test"
    assert got.loc["afp", "test"] == "Mann-Whitney U test"
    assert got.loc["sex", "test"] == got.loc["hbv", "test"] == "chi-square test"
    assert got.loc["bclc", "test"] == got.loc["child_pugh", "test"] == "Fisher's exact test"
    for v in ["age", "afp", "sex", "bclc", "hbv", "child_pugh"]:
        assert got.loc[v, "p_value"] == pytest.approx(ref[v][0], rel=1e-6), v


@requires_r
def test_summaries_and_missing_counts():
    df = cohort()
    table = baseline_table(df, "cohort", digits=2)
    ref = run_r('g <- d$cohort == "training"; out("age", c(mean(d$age[g]), sd(d$age[g]))); '
                'out("afp", quantile(d$afp[!g], c(0.5, 0.25, 0.75), na.rm = TRUE))', d=df)
    row = table.set_index(["variable", "level"])
    assert row.loc[("age", ""), "training"] == f"{ref['age'][0]:.2f} ± {ref['age'][1]:.2f}"
    q = ref["afp"]
    assert row.loc[("afp", ""), "validation"] == f"{q[0]:.2f} ({q[1]:.2f}-{q[2]:.2f})"
    assert row.loc[("afp", ""), "missing"] == 3
    assert row.loc[("afp", ""), "missing training"] + row.loc[("afp", ""), "missing validation"] == 3
    n_m = int((df.sex == "M").sum())
    assert row.loc[("sex", "M"), "overall"] == f"{n_m} ({100 * n_m / 119:.1f}%)"
    assert table.iloc[0]["overall"] == "120"


@requires_r
def test_exact_mann_whitney_three_groups_and_fisher_rxc():
    rng = np.random.default_rng(1)
    small = pd.DataFrame({"g": ["a"] * 12 + ["b"] * 15, "x": rng.exponential(size=27)})  # no ties: exact
    three = pd.DataFrame({"g": np.repeat(["a", "b", "c"], 20), "x": np.r_[rng.exponential(size=40), rng.exponential(size=20) + 1],
                          "y": rng.normal(size=60) + np.repeat([0, 0.5, 1], 20)})
    ref = run_r('out("mw", wilcox.test(s$x[s$g == "a"], s$x[s$g == "b"])$p.value); '
                'out("kw", kruskal.test(x ~ g, data = t3)$p.value); '
                'out("welch", oneway.test(y ~ g, data = t3)$p.value); '
                'out("f", fisher.test(matrix(c(3, 5, 0, 1, 2, 6, 4, 0, 1), 3))$p.value); '
                'out("f2", fisher.test(matrix(c(3, 5, 0, 7, 1, 2, 6, 9), 4))$p.value)', s=small, t3=three)
    assert pvalues(baseline_table(small, "g")).loc["x", "p_value"] == pytest.approx(ref["mw"][0], rel=1e-9)
    got3 = pvalues(baseline_table(three, "g"))
    assert got3.loc["x", "test"] == "Kruskal-Wallis test" and got3.loc["x", "p_value"] == pytest.approx(ref["kw"][0], rel=1e-9)
    assert got3.loc["y", "test"] == "Welch ANOVA" and got3.loc["y", "p_value"] == pytest.approx(ref["welch"][0], rel=1e-9)
    p_mc, exact = fisher_exact_rxc(np.array([[3, 1, 4], [5, 2, 0], [0, 6, 1]]))  # 3 x 3: Monte Carlo
    assert not exact and p_mc == pytest.approx(ref["f"][0], abs=0.005)
    p, exact = fisher_exact_rxc(np.array([[3, 1], [5, 2], [0, 6], [7, 9]]))
    assert exact and p == pytest.approx(ref["f2"][0], rel=1e-9)


def test_unknown_group_column_is_named():
    with pytest.raises(ValueError, match="'arm'"):
        baseline_table(cohort(), "arm")
