"""huang2022 when no DLR feature is selected (issue 5): the DLR score is reported as not formed, with the
numbers, the paper's models reduce to the clinical ones, and everything downstream (X-tile groups, NRI,
Fine-Gray, four classes, reader study, report) runs and says what is missing. Fast: no images (the
feature tables and crops are built here), signal-0 outcomes of the synthetic generator (no I/O but the
report's)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hccrisk.cohort import load_cohort

N = 40


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> pd.DataFrame:
    from hccrisk.synth.cohort import cohort_tables

    folder = tmp_path_factory.mktemp("nodlr-cohort")
    for name, df in cohort_tables(N, 3, 0.0).items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return load_cohort(folder, with_truth=True)


def _null_cox_score(time: np.ndarray, event: np.ndarray, free: np.ndarray) -> np.ndarray:
    """A covariate whose Cox score at beta = 0 is exactly 0 (each death's value is the mean of the others
    at risk then), so the L1-Cox path's lambda_max is 0 and no lambda selects it; the censored patients keep
    ``free``."""
    x = np.asarray(free, float).copy()
    for i in sorted(np.flatnonzero(event), key=lambda i: -time[i]):
        others = (time >= time[i]) & (np.arange(len(x)) != i)
        x[i] = x[others].mean() if others.any() else 0.0
    return x


def test_os_arm_without_selected_feature_fits_the_clinical_model_alone(cohort):
    from hccrisk.reproduce import huang2022_survival as surv

    data = cohort.assign(log10_afp=np.log10(cohort["afp"].astype(float)))
    ids = list(data.index)
    train, val = ids[:28], ids[28:]
    t, e = data.loc[train, "os_time"].to_numpy(float), data.loc[train, "os_event"].to_numpy(int)
    rng = np.random.default_rng(1)
    features = pd.DataFrame({f"f{k}": np.r_[_null_cox_score(t, e, rng.standard_normal(len(train))),
                                            rng.standard_normal(len(val))] for k in range(3)}, index=ids)
    features = (features - features.loc[train].mean()) / features.loc[train].std()
    models = surv.fit_os_models(data, features, surv.clinical_design(data, train), train, seed=0)

    assert "L1-Cox selected none" in models.dlr_missing and "univariate C-index > 0.58" in models.dlr_missing
    assert set(models.models) == {"Clinical"} and models.dlr_coefficients.empty
    assert "dlr_os" not in models.scores and "lp DLR" not in models.scores
    cohorts = {"training": train, "validation": val}
    c_table, compare = surv.c_index_table(data, models.scores, cohorts)
    assert set(c_table.model) == {"Clinical"} and compare.empty
    assert surv.nri_table(data, {"Clinical": pd.Series(0.5, index=ids)}, cohorts, seed=0).empty
    groups, _ = surv.risk_groups(data, models.scores, train)
    assert "DLR" not in groups


def test_er_arm_without_selected_feature_says_which_step_left_none(cohort):
    from hccrisk.reproduce.huang2022 import er_dlr_score

    data = cohort[cohort["er_1y"].notna()]
    y = data["er_1y"].to_numpy(int)
    x = pd.DataFrame(np.random.default_rng(2).standard_normal((len(data), 5)), index=data.index,
                     columns=[f"f{k}" for k in range(5)])
    x = x - x.groupby(y).transform("mean").to_numpy()  # equal class means: every univariate slope is 0
    er = er_dlr_score(x, list(data.index), y, seed=0)
    assert er.score is None and er.coefficients.empty
    assert "none of the 5 non-constant DLR features had a univariate logistic P < 0.05" in er.missing
    assert er.counts.features.tolist() == [5, 5, 0, 0, 0]


def test_analysis_and_report_without_any_dlr_score(cohort, tmp_path):
    """Images that carry nothing (identical frames for every patient): neither arm forms a DLR score; the
    analysis and the report still run and say so."""
    import torch

    from hccrisk.reproduce.huang2022 import analyse
    from hccrisk.reproduce.huang2022_frames import FrameData
    from hccrisk.reproduce.huang2022_report import write_huang2022_report

    torch.set_num_threads(1)
    ids = list(cohort.index)
    radiomics = pd.DataFrame(1.0, index=ids, columns=[f"gray_f{k}" for k in range(4)])
    frames = FrameData(radiomics, radiomics.iloc[:0], {p: np.full((2, 64, 64), 90.0, np.float32) for p in ids}, {},
                       pd.Series(30.0, index=ids), pd.DataFrame(columns=["patient_id", "observer", "problem"]))
    result = analyse(cohort, frames, seed=0)

    assert set(result.dlr_missing) == {"ER", "OS"}
    assert "all 132 DLR features are constant in training" in result.dlr_missing["ER"]
    assert set(result.er_performance.model) == {"Clinical"}
    assert not {"DLR", "Clinical + DLR"} & set(result.c_index.model)
    assert result.classes.empty and result.readers is None and result.nri.empty
    assert not {"DLR", "dlr_er", "dlr_os", "class"} & set(result.predictions.columns)

    path = write_huang2022_report(result, tmp_path, cohort.attrs.get("path", "synthetic"), {}, frames.failures, 1.0)
    html = path.read_text()
    for text in ("DLR ER score not formed", "OS DLR score not formed", "The four classes are not formed",
                 "Survival NRI of clinical + DLR over clinical: not computed", "reader"):
        assert text in html, text
    assert json.loads((tmp_path / "provenance.json").read_text())["dlr_not_formed"] == result.dlr_missing
    preds = pd.read_csv(tmp_path / "tables" / "predictions.csv", index_col=0)
    assert "DLR" not in preds and len(preds) == len(result.predictions)
