"""ClinicalModel (papers' univariate -> multivariable rule) and NomogramModel: the rule, missing values
learnt on training only, categorical levels, agreement with R glm and with the drawn nomogram."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score

from hccrisk.errors import InputError
from hccrisk.models import PAPER_RULES, ClinicalModel, NomogramModel
from hccrisk.stats import univariate_then_multivariable_logit
from tests.models.clinical_data import clinical_table
from tests.stats.rref import requires_r, run_r

CANDIDATES = ["age", "sex", "log_afp", "child_pugh", "alb", "tumour_size"]


def test_clinical_model_is_the_stats_selection_on_training_imputed_data():
    df, y = clinical_table()
    train, val = df.iloc[:200], df.iloc[200:]
    m = ClinicalModel(candidates=CANDIDATES, p_enter=0.10).fit(train, y[:200])
    assert m.fill_values_["alb"] == pytest.approx(train["alb"].median())
    filled = train.fillna({"alb": train["alb"].median(), "tumour_size": train["tumour_size"].median()})
    ref = univariate_then_multivariable_logit(filled.assign(er=y[:200]), "er", CANDIDATES, p_enter=0.10, categorical=["sex", "child_pugh"])
    assert m.selected_ == ref.selected
    pd.testing.assert_frame_equal(m.odds_ratio_table()[ref.multivariable.columns], ref.multivariable)
    # validation rows: missing values take the training median; prediction = the fitted statsmodels model
    val_filled = val.fillna({"alb": train["alb"].median(), "tumour_size": train["tumour_size"].median()})
    exog = pd.DataFrame({t: (val_filled[t.split("[")[0]] == t.split("[")[1][:-1]).astype(float) if "[" in t else val_filled[t]
                         for t in ref.model.params.index if t != "const"})
    expected = ref.model.predict(np.column_stack([np.ones(len(exog)), exog.to_numpy()]))
    np.testing.assert_allclose(m.predict_proba(val)[:, 1], expected, rtol=1e-10)


def test_entry_threshold_follows_each_paper():
    df, y = clinical_table(seed=2)
    for paper in ("liu2025", "zhao2024"):
        m = ClinicalModel.from_paper(paper, candidates=CANDIDATES, method="enter").fit(df, y)
        uni = m.selection_.univariate.drop_duplicates("variable").set_index("variable")["variable_p"]
        assert m.selected_ == tuple(v for v in CANDIDATES if uni[v] < PAPER_RULES[paper]["p_enter"])
    with pytest.raises(InputError, match="unknown 'liu2099'"):
        ClinicalModel.from_paper("liu2099")


def test_complete_case_mode_refuses_to_predict_missing_values_and_unknown_levels_are_named():
    df, y = clinical_table(seed=3)
    m = ClinicalModel(candidates=["log_afp", "child_pugh", "alb"], method="enter", p_enter=1.0, missing="complete").fit(df, y)
    assert m.selection_.n_multivariable == df[["log_afp", "child_pugh", "alb"]].dropna().shape[0]
    with pytest.raises(InputError, match="alb"):
        m.predict_proba(df[df.alb.isna()])
    with pytest.raises(InputError, match="'child_pugh'.*'C'"):
        m.predict_proba(df.dropna().assign(child_pugh="C"))
    with pytest.raises(InputError, match="DataFrame"):
        ClinicalModel().fit(df.to_numpy(), y)


def test_clinical_model_works_in_scikit_learn_cross_validation():
    df, y = clinical_table(seed=4)
    aucs = cross_val_score(ClinicalModel(candidates=CANDIDATES), df, y, cv=3, scoring="roc_auc")
    assert aucs.shape == (3,) and (aucs > 0.6).all()


@requires_r
def test_nomogram_model_matches_r_glm_and_its_nomogram_reproduces_the_probability():
    df, y = clinical_table(seed=5)
    data = df.dropna().assign(rad_score=lambda d: 0.8 * (d.log_afp - 3) + np.random.default_rng(0).normal(size=len(d)))
    yy = y[df.notna().all(axis=1).to_numpy()]
    m = NomogramModel(predictors=["rad_score", "child_pugh", "tumour_size"]).fit(data, yy)
    r = run_r("""
    m <- glm(y ~ rad_score + factor(child_pugh) + tumour_size, family = binomial, data = d,
             control = glm.control(epsilon = 1e-14, maxit = 100))
    out("coef", coef(m)); out("p", fitted(m))
    """, d=data.assign(y=yy))
    got = [m.intercept_, m.nomogram_coefs_["rad_score"], m.nomogram_coefs_["child_pugh"]["B"], m.nomogram_coefs_["tumour_size"]]
    np.testing.assert_allclose(got, r["coef"], rtol=1e-7)
    np.testing.assert_allclose(m.predict_proba(data)[:, 1], r["p"], rtol=1e-7)
    assert m.nomogram_coefs_["child_pugh"]["A"] == 0.0
    assert m.ranges_["tumour_size"] == (data.tumour_size.min(), data.tumour_size.max())
    nomogram = m.to_nomogram()
    patient = data.iloc[7][["rad_score", "child_pugh", "tumour_size"]].to_dict()
    assert nomogram.predict(patient) == pytest.approx(m.predict_proba(data.iloc[[7]])[0, 1], rel=1e-9)


def test_nomogram_names_a_predictor_that_cannot_be_fitted():
    from hccrisk.features._validation import EstimatorInputError
    from hccrisk.models import NomogramModel

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"rad_score": [1.0, 2, 3, 4, 5, 6] * 5, "age": rng.normal(60, 5, 30)})
    y = np.array([0, 0, 0, 1, 1, 1] * 5)  # rad_score separates the outcome perfectly
    with pytest.raises(EstimatorInputError, match="rad_score: not fitted.*separation"):
        NomogramModel(predictors=["rad_score", "age"]).fit(df, y)
