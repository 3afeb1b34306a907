"""huang2022's OS DLR score, fitted on the training cohort only: DLR features (z-scored) -> univariate Cox,
keep C-index > ``C_THRESHOLD`` -> L1-penalised Cox (lambda by 5-fold CV of the pooled out-of-fold C-index)
-> linear predictor. A selection that leaves no feature gives no score and says why
(``huang2022_survival.fit_os_models`` then fits the clinical model alone). Times are months."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccrisk.errors import HccriskError

OS = ("os_time", "os_event")
C_THRESHOLD = 0.58
N_ALPHAS = 40


def _cox_df(data: pd.DataFrame, x: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([data[list(OS)].astype(float), x], axis=1)


def univariate_c(x: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> pd.Series:
    """Each feature's univariate Cox C-index: Harrell's C of the feature in the direction of its Cox
    coefficient, i.e. max(C(x), 1 - C(x)) (the coefficient only sets the direction)."""
    from hccrisk import stats

    out = {}
    for col in x.columns:
        c = stats.harrell_c(time, event, x[col].to_numpy()).c
        out[col] = max(c, 1.0 - c)
    return pd.Series(out, name="c_index")


def l1_cox_cv(x: pd.DataFrame, time: np.ndarray, event: np.ndarray, seed: int, folds: int = 5) -> tuple[float, pd.DataFrame]:
    """Lambda of the L1-Cox model by ``folds``-fold CV: scikit-survival's coordinate descent (glmnet's
    objective) along one lambda path from the training data; each lambda is scored by Harrell's C of the
    out-of-fold linear predictors pooled over the folds (one C per lambda). Returns (lambda with the
    highest CV C among those selecting >= 1 feature, table lambda / n_nonzero / cv_c)."""
    from sklearn.model_selection import StratifiedKFold
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    from hccrisk import stats

    y = stats.sksurv_outcome(time, event)
    xs = x.to_numpy(float)
    full = CoxnetSurvivalAnalysis(l1_ratio=1.0, n_alphas=N_ALPHAS, alpha_min_ratio=0.05, normalize=False,
                                  max_iter=100_000).fit(xs, y)
    alphas = full.alphas_
    lp = np.zeros((len(xs), len(alphas)))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(xs, event):
        net = CoxnetSurvivalAnalysis(l1_ratio=1.0, alphas=alphas, normalize=False, max_iter=100_000).fit(xs[tr], y[tr])
        lp[te] = xs[te] @ net.coef_
    nonzero = (full.coef_ != 0).sum(0)
    cv_c = np.array([stats.harrell_c(time, event, lp[:, k]).c if np.ptp(lp[:, k]) > 0 else 0.5
                     for k in range(len(alphas))])
    table = pd.DataFrame({"lambda": alphas, "n_nonzero": nonzero, "cv_c": cv_c})
    usable = table[table.n_nonzero > 0]
    best = usable.loc[usable.cv_c.idxmax()] if len(usable) else table.iloc[-1]
    return float(best["lambda"]), table


def dlr_os_score(features: pd.DataFrame, data: pd.DataFrame, train: list[str], seed: int, notes: list[str]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series | None, str | None]:
    """Univariate Cox C > ``C_THRESHOLD`` -> L1-Cox on the training patients. Returns (univariate C table,
    lambda CV table, coefficients of the selected features, DLR score per patient or None, why not formed)."""
    t_tr, e_tr = data.loc[train, OS[0]].to_numpy(float), data.loc[train, OS[1]].to_numpy(int)
    varying = features.columns[features.loc[train].std() > 0]
    empty_cv = pd.DataFrame(columns=["lambda", "n_nonzero", "cv_c"])
    empty_coefs = pd.DataFrame(columns=["feature", "coef", "hr"])
    if len(varying) == 0:
        return (pd.DataFrame(columns=["feature", "c_index", "kept"]), empty_cv, empty_coefs, None,
                "no DLR feature varies in training.")
    uni = univariate_c(features.loc[train, varying], t_tr, e_tr).sort_values(ascending=False)
    kept = list(uni.index[uni > C_THRESHOLD])
    if len(kept) < 2:
        kept = list(uni.index[:2])
        notes.append(f"Fewer than 2 features had a univariate C-index > {C_THRESHOLD}: the {len(kept)} best were kept.")
    uni_table = uni.to_frame().assign(kept=lambda d: d.c_index > C_THRESHOLD).reset_index(names="feature")
    try:
        lam, cv = l1_cox_cv(features.loc[train, kept], t_tr, e_tr, seed)
    except (ArithmeticError, ValueError) as exc:  # scikit-survival: "weights are too large", or no usable path
        return (uni_table, empty_cv, empty_coefs, None,
                f"the L1-Cox lambda path over the {len(kept)} features with a univariate C > {C_THRESHOLD} "
                f"could not be computed ({exc}): no feature selected.")
    df_tr = _cox_df(data.loc[train], features.loc[train, kept])
    beta = _l1_cox(df_tr, kept, lam, notes)
    if not beta.any() and lam != cv["lambda"].iloc[-1]:  # the CV's lambda may zero everything: take the path's end
        lam = float(cv["lambda"].iloc[-1])
        beta = _l1_cox(df_tr, kept, lam, notes)
        if beta.any():
            notes.append("The CV-chosen lambda selected no feature; the smallest lambda of the path was used.")
    if not beta.any():
        return (uni_table, cv, empty_coefs, None,
                f"{int((uni > C_THRESHOLD).sum())} of {len(uni)} DLR features had a univariate C-index > "
                f"{C_THRESHOLD} in training ({len(kept)} entered the L1-Cox, best C {uni.iloc[0]:.3f}); the L1-Cox "
                f"selected none of them, neither at the CV-chosen lambda nor at the path's smallest ({lam:.4g}).")
    coefs = pd.DataFrame({"feature": kept, "coef": beta, "hr": np.exp(beta)})[beta != 0].reset_index(drop=True)
    return uni_table, cv, coefs, pd.Series(features[kept].to_numpy(float) @ beta, index=features.index,
                                           name="dlr_os"), None


def _l1_cox(df: pd.DataFrame, covariates: list[str], lam: float, notes: list[str]) -> np.ndarray:
    """L1-Cox coefficients at ``lam``: ``cox_fit`` (coordinate descent, then exact Newton on the active set);
    scikit-survival's coordinate-descent solution itself when that Newton step is singular (more active
    features than the deaths can separate)."""
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    from hccrisk import stats

    try:
        try:
            with np.errstate(all="ignore"):
                return stats.cox_fit(df, *OS, covariates, penalizer=lam, l1_ratio=1.0,
                                     ties="breslow").table["coef"].to_numpy()
        except (HccriskError, np.linalg.LinAlgError):
            notes.append(f"L1-Cox at lambda {lam:.4g}: the exact Newton refinement was singular; the coordinate-"
                         "descent solution is used.")
            y = stats.sksurv_outcome(df[OS[0]], df[OS[1]])
            net = CoxnetSurvivalAnalysis(alphas=[lam], l1_ratio=1.0, normalize=False, tol=1e-10, max_iter=1_000_000)
            return np.asarray(net.fit(df[covariates].to_numpy(float), y).coef_[:, 0], dtype=float)
    except ArithmeticError as exc:
        # scikit-survival's "weights are too large" (in either fit's coordinate descent): at this lambda the
        # features order the training deaths (nearly) perfectly, so there is no finite estimate; none is selected.
        notes.append(f"L1-Cox at lambda {lam:.4g} has no finite estimate ({exc}): no feature selected there.")
        return np.zeros(len(covariates))
