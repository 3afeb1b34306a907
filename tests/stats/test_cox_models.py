"""hccrisk.stats.cox_models against R coxph / step / glmnet on survival's lung and pbc."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import cox_models as cm
from tests.stats.rref import requires_r, run_r

LUNG = ["age", "sex", "ph.ecog", "ph.karno", "pat.karno", "wt.loss", "meal.cal"]
PBC = ["age", "female", "bili", "albumin", "protime", "edema", "ast", "copper", "chol", "platelet",
       "alk.phos", "trig", "stage"]


@pytest.fixture(scope="module")
def r_data(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """survival::lung and survival::pbc, complete cases, status 1 = death, written by R itself."""
    folder = tmp_path_factory.mktemp("rdata")
    run_r(f"""
        library(survival)
        l <- na.omit(lung[, c("time", "status", "{'", "'.join(LUNG)}")]); l$status <- l$status - 1
        write.csv(l, "{folder}/lung.csv", row.names = FALSE)
        p <- pbc; p$female <- as.integer(p$sex == "f"); p$status <- as.integer(p$status == 2)
        p <- na.omit(p[, c("time", "status", "{'", "'.join(PBC)}")])
        write.csv(p, "{folder}/pbc.csv", row.names = FALSE)
    """)
    return {name: pd.read_csv(folder / f"{name}.csv") for name in ("lung", "pbc")}


@requires_r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_fit_matches_coxph(r_data, ties):
    lung = r_data["lung"]
    got = run_r(f"""
        library(survival)
        f <- coxph(Surv(time, status) ~ {' + '.join(f'`{c}`' for c in LUNG)}, data = d, ties = "{ties}")
        s <- summary(f)
        out("coef", coef(f)); out("se", sqrt(diag(vcov(f)))); out("p", s$coefficients[, 5])
        out("ci", s$conf.int[, 3:4]); out("fit", c(f$loglik[2], AIC(f), f$n, f$nevent, f$concordance["concordance"]))
    """, d=lung)
    fit = cm.cox_fit(lung, "time", "status", LUNG, ties=ties)
    tab = fit.table
    np.testing.assert_allclose(tab.coef, got["coef"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(tab.se, got["se"], rtol=1e-6)
    np.testing.assert_allclose(tab.p, got["p"], rtol=1e-6)
    np.testing.assert_allclose(tab[["hr_low", "hr_high"]].to_numpy().T.ravel(), got["ci"], rtol=1e-6)
    np.testing.assert_allclose(tab.hr, np.exp(got["coef"]), rtol=1e-6)
    assert fit.log_likelihood == pytest.approx(got["fit"][0], abs=1e-7)
    assert fit.aic == pytest.approx(got["fit"][1], abs=1e-6)
    assert (fit.n, fit.events) == (got["fit"][2], got["fit"][3])
    assert fit.concordance == pytest.approx(got["fit"][4], abs=1e-9)
    lp = fit.linear_predictor(lung)
    assert np.corrcoef(lp, lung[LUNG].to_numpy() @ got["coef"])[0, 1] == pytest.approx(1.0)


@requires_r
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_penalised_cox_matches_glmnet_on_untied_times(l1_ratio):
    # glmnet's Fortran treats tied event times differently from Breslow, so compare where no ties exist
    rng = np.random.default_rng(3)
    n = 200
    x = rng.normal(size=(n, 5))
    t_event = rng.exponential(np.exp(-(x @ [0.8, -0.5, 0.3, 0.0, 0.0])))
    t_cens = rng.exponential(1.5, size=n)
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    df["time"], df["status"] = np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int)
    got = run_r(f"""
        library(glmnet); library(survival)
        x <- as.matrix(d[, paste0("x", 0:4)])
        for (lam in c(0.02, 0.1)) out(paste0("b", lam * 100), as.numeric(coef(glmnet(x, Surv(d$time, d$status),
            family = "cox", alpha = {l1_ratio}, lambda = lam, standardize = FALSE, thresh = 1e-16, maxit = 1e7))))
    """, d=df)
    cols = [f"x{i}" for i in range(5)]
    for lam, key in [(0.02, "b2"), (0.1, "b10")]:
        fit = cm.cox_fit(df, "time", "status", cols, penalizer=lam, l1_ratio=l1_ratio, ties="breslow")
        np.testing.assert_allclose(fit.table.coef, got[key], atol=1e-6)
        assert np.array_equal(fit.table.coef == 0, got[key] == 0)  # same variables dropped
        assert fit.table.se.isna().all()
    assert (got["b10"] == 0).any()  # the larger lambda really zeroes some coefficients


@requires_r
def test_ridge_cox_matches_coxph_ridge_with_ties(r_data):
    lung = r_data["lung"]
    lam = 0.05
    got = run_r(f"""
        library(survival)
        x <- as.matrix(d[, c("age", "sex", "ph.ecog", "wt.loss")])
        f <- coxph(Surv(d$time, d$status) ~ ridge(x, theta = {lam} * nrow(d), scale = FALSE), ties = "breslow")
        out("b", coef(f))
    """, d=lung)
    fit = cm.cox_fit(lung, "time", "status", ["age", "sex", "ph.ecog", "wt.loss"], penalizer=lam, ties="breslow")
    np.testing.assert_allclose(fit.table.coef, got["b"], rtol=1e-6, atol=1e-9)


@requires_r
@pytest.mark.parametrize("name", ["lung", "pbc"])
def test_backward_aic_matches_step(r_data, name):
    df, cands = r_data[name], (LUNG if name == "lung" else PBC)
    got = run_r(f"""
        library(survival)
        full <- coxph(Surv(time, status) ~ {' + '.join(f'`{c}`' for c in cands)}, data = d)
        s <- step(full, direction = "backward", trace = 0)
        kept <- attr(terms(s), "term.labels")
        out("kept", match(gsub("`", "", kept), c("{'", "'.join(cands)}")))
        out("aic", c(AIC(full), AIC(s)))
    """, d=df)
    sel = cm.cox_backward_aic(df, "time", "status", cands)
    assert sorted(sel.selected) == sorted(cands[int(i) - 1] for i in got["kept"])
    assert 0 < len(sel.selected) < len(cands)
    assert sel.steps.aic.iloc[0] == pytest.approx(got["aic"][0], abs=1e-6)
    assert sel.model.aic == pytest.approx(got["aic"][1], abs=1e-6)
    assert np.all(np.diff(sel.steps.aic) < 0)


@requires_r
def test_univariate_then_multivariable(r_data):
    pbc = r_data["pbc"]
    got = run_r(f"""
        library(survival)
        for (v in c("{'", "'.join(PBC)}")) {{
          s <- summary(coxph(as.formula(paste("Surv(time, status) ~ `", v, "`", sep = "")), data = d))
          out(paste0("uni_", v), c(s$coefficients[1, c(1, 3, 5)], s$conf.int[1, 3:4]))
        }}
    """, d=pbc)
    uni_r = np.stack([got[f"uni_{v}"] for v in PBC])
    res = cm.univariate_then_multivariable_cox(pbc, "time", "status", PBC, method="stepwise")
    np.testing.assert_allclose(res.univariate[["coef", "se", "p", "hr_low", "hr_high"]], uni_r, rtol=1e-6)
    assert res.screened == [c for c, p in zip(PBC, uni_r[:, 2]) if p < 0.05]
    # stepwise contract: every kept covariate has p <= p_keep, no screened covariate left out would enter
    assert (res.model.table.p <= 0.05).all() and set(res.selected) <= set(res.screened)
    for c in set(res.screened) - set(res.selected):
        assert cm.cox_fit(pbc, "time", "status", res.selected + [c]).table.loc[c, "p"] >= 0.05
    backward = cm.univariate_then_multivariable_cox(pbc, "time", "status", PBC)
    assert backward.selected == cm.cox_backward_aic(pbc, "time", "status", backward.screened).selected


def test_cox_fit_rejects_bad_input(r_data):
    lung = r_data["lung"].copy()
    with pytest.raises(ValueError, match="no column"):
        cm.cox_fit(lung, "time", "status", ["age", "nope"])
    lung.loc[3, "age"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        cm.cox_fit(lung, "time", "status", ["age"])
    lung["one"] = 1.0
    with pytest.raises(ValueError, match="single value"):
        cm.cox_fit(lung, "time", "status", ["one"])
    lung["arm"] = "A"
    with pytest.raises(ValueError, match="not numeric"):
        cm.cox_fit(lung, "time", "status", ["arm"])
    with pytest.raises(ValueError, match="Breslow"):
        cm.cox_fit(r_data["lung"], "time", "status", ["age"], penalizer=0.1)


@requires_r
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_predicted_survival_matches_survfit_coxph(r_data, ties):
    lung = r_data["lung"]
    cols = ["age", "sex", "ph.ecog", "wt.loss"]
    new = lung.iloc[:5]
    got = run_r(f"""
        library(survival)
        f <- coxph(Surv(time, status) ~ age + sex + ph.ecog + wt.loss, data = d, ties = "{ties}")
        s <- summary(survfit(f, newdata = d[1:5, ]), times = c(30, 180, 365, 700))
        out("surv", s$surv)
    """, d=lung)
    fit = cm.cox_fit(lung, "time", "status", cols, ties=ties)
    pred = fit.predict_survival(new, [30, 180, 365, 700])
    np.testing.assert_allclose(pred.ravel(), got["surv"], rtol=1e-7)  # R: times x subjects, column-major


@requires_r
def test_backward_aic_can_drop_to_the_null_model():
    # A lone pure-noise covariate: step() ends at the null model (AIC = -2 log L of ~1), so must we.
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"time": rng.exponential(1.0, 80), "status": rng.integers(0, 2, 80),
                       "noise": rng.normal(size=80)})
    got = run_r("""
        library(survival)
        s <- step(coxph(Surv(time, status) ~ noise, data = d), direction = "backward", trace = 0)
        out("n_kept", length(attr(terms(s), "term.labels")))
        out("aic", -2 * s$loglik[1])
    """, d=df)
    sel = cm.cox_backward_aic(df, "time", "status", ["noise"])
    assert got["n_kept"][0] == 0 and sel.selected == []
    assert sel.model.aic == pytest.approx(got["aic"][0], abs=1e-6)
