"""regression.py against R glm(family = binomial), confint.default, Wald selection and VIF in base R."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import univariate_then_multivariable_logit
from tests.stats.rref import requires_r, run_r


def clinical(n=300, seed=9):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "alb": rng.normal(40, 5, n),
        "afp_log": rng.normal(3, 1.5, n),
        "size": rng.gamma(3, 1.2, n),
        "noise": rng.normal(size=n),
        "bclc": rng.choice(["0", "A", "B"], n, p=[0.2, 0.5, 0.3]),
    })
    df["ggt"] = 0.6 * df.afp_log + rng.normal(scale=0.8, size=n)  # collinear with afp_log
    lp = -1 + -0.08 * (df.alb - 40) + 0.5 * (df.afp_log - 3) + 0.25 * (df["size"] - 3.6) + 0.6 * (df.bclc == "B")
    df["er"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    df.loc[rng.choice(n, 15, replace=False), "alb"] = np.nan
    df.loc[rng.choice(n, 10, replace=False), "size"] = np.nan
    return df


GLM = """
fitwald <- function(f, data) {
  m <- glm(f, family = binomial, data = data, control = glm.control(epsilon = 1e-14, maxit = 100)); ci <- exp(confint.default(m))
  c(exp(coef(m))[-1], ci[-1, 1], ci[-1, 2], summary(m)$coefficients[-1, 4], nobs(m))
}
d$bclc <- factor(d$bclc)
"""


@requires_r
def test_univariate_and_final_model_match_glm():
    df = clinical()
    cands = ["alb", "afp_log", "size", "noise", "bclc", "ggt"]
    res = univariate_then_multivariable_logit(df, "er", cands, method="enter")
    code = GLM + "".join(f'out("u_{v}", fitwald(er ~ {v}, d)); ' for v in cands)
    sel = " + ".join(res.selected)
    code += f'out("multi", fitwald(er ~ {sel}, d)); '
    code += ('m <- glm(er ~ bclc, binomial, d, control = glm.control(epsilon = 1e-14)); b <- coef(m)[-1]; '
             'out("bclc_wald", pchisq(drop(t(b) %*% solve(vcov(m)[-1, -1]) %*% b), 2, lower.tail = FALSE))')
    ref = run_r(code, d=df)
    for v in cands:
        rows = res.univariate[res.univariate.variable == v]
        k = len(rows)
        r = ref[f"u_{v}"]
        np.testing.assert_allclose(rows[["OR", "low", "high", "p_value"]].to_numpy().T.ravel(), r[: 4 * k], rtol=1e-6)
        assert (rows.n == r[-1]).all()
    m = res.multivariable
    np.testing.assert_allclose(m[["OR", "low", "high", "p_value"]].to_numpy().T.ravel(), ref["multi"][:-1], rtol=1e-6)
    assert res.n_multivariable == ref["multi"][-1]
    assert set(res.selected) == set(res.univariate.loc[res.univariate.variable_p < 0.10, "variable"])
    u = res.univariate
    assert u.loc[u.variable == "bclc", "variable_p"].iloc[0] == pytest.approx(ref["bclc_wald"][0], rel=1e-6)
    assert list(u.term[u.variable == "bclc"]) == ["bclc[A]", "bclc[B]"]  # reference level "0", as R


@requires_r
def test_backward_elimination_matches_base_r_loop_and_vif():
    df = clinical().drop(columns="bclc")
    cands = ["alb", "afp_log", "size", "noise", "ggt"]
    res = univariate_then_multivariable_logit(df, "er", cands, p_enter=0.5, p_keep=0.05, method="backward")
    pool = list(res.univariate.loc[res.univariate.variable_p < 0.5, "variable"])
    ref = run_r(
        f'pool <- c({", ".join(repr(v) for v in pool)}); dd <- na.omit(d[, c("er", pool)])\n'
        'repeat { m <- glm(reformulate(pool, "er"), binomial, dd); p <- summary(m)$coefficients[-1, 4]\n'
        '  if (max(p) <= 0.05 || length(pool) == 1) break; pool <- pool[-which.max(p)] }\n'
        'out("kept", match(pool, names(d))); dd <- na.omit(d[, c("er", pool)])\n'
        'out("vif", sapply(pool, function(v) 1/(1 - summary(lm(reformulate(setdiff(pool, v), v), dd))$r.squared)))',
        d=df,
    )
    assert sorted(res.selected) == sorted(df.columns[ref["kept"].astype(int) - 1])
    vif = res.vif.set_index("term").loc[[df.columns[i - 1] for i in ref["kept"].astype(int)], "vif"]
    np.testing.assert_allclose(vif, ref["vif"], rtol=1e-8)
    assert (res.multivariable.p_value <= 0.05).all()


def test_stepwise_keeps_only_significant_and_reports_n():
    df = clinical()
    res = univariate_then_multivariable_logit(df, "er", ["alb", "afp_log", "size", "noise", "bclc", "ggt"])
    assert "noise" not in res.selected and "afp_log" in res.selected
    assert res.n_multivariable == len(df[["er", *res.selected]].dropna())
    # every selected variable stays under p_keep in the final model
    for v in res.selected:
        assert res.multivariable.loc[res.multivariable.term.str.startswith(v), "p_value"].min() <= 0.05


def test_bad_outcome_and_separation_are_named():
    df = clinical()
    with pytest.raises(ValueError, match="er2: must be a 0/1"):
        univariate_then_multivariable_logit(df.assign(er2=df.er * 2), "er2", ["alb"])
    # A separating candidate is screened out and named in the univariate table; the others go on.
    rng = np.random.default_rng(3)
    sep = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1] * 5, "x": [1.0, 2, 3, 4, 5, 6] * 5})
    sep["z"] = sep.y + rng.normal(0, 1.0, len(sep))
    res = univariate_then_multivariable_logit(sep, "y", ["x", "z"])
    row = res.univariate.set_index("variable").loc["x"]
    assert "not fitted" in row["note"] and "univariate model of 'x'" in row["note"]
    assert np.isnan(row["variable_p"]) and "x" not in res.selected
    assert res.univariate.set_index("variable").loc["z", "note"] == ""


def test_numeric_categorical_levels_are_in_numeric_order():
    df = clinical()
    df["tumour_number"] = np.where(df.afp_log > 4, 3, np.where(df.afp_log > 2.5, 2, 1)) * np.where(df.index % 7 == 0, 10, 1)
    res = univariate_then_multivariable_logit(df, "er", ["tumour_number"], categorical=["tumour_number"], method="enter")
    terms = list(res.univariate.term)
    assert terms[0] == "tumour_number[2]" and terms[-1].endswith("[30]")
