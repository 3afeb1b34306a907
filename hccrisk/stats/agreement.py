"""Agreement between observers: intraclass correlation (Shrout & Fleiss 1979), Cohen's and Fleiss' kappa.

ICC: two-way ANOVA mean squares and the CIs of R ``psych::ICC`` (McGraw & Wong 1996 for ICC2's
Satterthwaite-type bounds); ``icc_per_feature`` is the same arithmetic vectorised over feature columns
(radiomics reproducibility, ICC > 0.90 kept in zhao2024). Cohen's kappa: statsmodels (Fleiss, Cohen &
Everitt 1969 large-sample variance). Fleiss' kappa: Fleiss 1971 with the null SE of Fleiss, Nee & Landis
1979 (as R ``irr::kappam.fleiss``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats import inter_rater

from hccrisk.stats._binary_checks import StatsInputError, check_level
from hccrisk.stats._result import Result

__all__ = ["ICC_FORMS", "IccResult", "CohenKappa", "FleissKappa", "icc", "icc_per_feature", "cohen_kappa", "fleiss_kappa"]

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
"""Shrout-Fleiss forms: 1 one-way random; 2 two-way random, absolute agreement; 3 two-way mixed,
consistency; k = reliability of the mean of k raters."""


@dataclasses.dataclass(frozen=True)
class IccResult(Result):
    """``table``: one row per form (``ICC_FORMS``) with icc, F, df1, df2, p_value, low, high."""

    table: pd.DataFrame
    n_subjects: int
    n_raters: int

    def __getitem__(self, form: Any) -> Any:  # type: ignore[override]
        """``result["ICC2"]`` gives that form's row; integers index the fields as for any Result."""
        return self.table.loc[form] if isinstance(form, str) else tuple(self)[form]


@dataclasses.dataclass(frozen=True)
class CohenKappa(Result):
    """Cohen's kappa (weighted when ``weights`` is set) with its CI, SE, and the test of kappa = 0."""

    kappa: float
    low: float
    high: float
    se: float
    p_value: float
    n: int
    weights: str | None


@dataclasses.dataclass(frozen=True)
class FleissKappa(Result):
    """Fleiss' kappa, its SE under kappa = 0, z, p, and per-category kappas (z, p) as a DataFrame."""

    kappa: float
    se0: float
    z: float
    p_value: float
    categories: pd.DataFrame


def _icc_arrays(x: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """All six forms for ``x`` (n subjects, k raters, f features): each value an (6, f) array."""
    n, k = x.shape[:2]
    grand = x.mean(axis=(0, 1))
    ss_total = ((x - grand) ** 2).sum(axis=(0, 1))
    ss_b = k * ((x.mean(axis=1) - grand) ** 2).sum(axis=0)
    ss_j = n * ((x.mean(axis=0) - grand) ** 2).sum(axis=0)
    ms_b = ss_b / (n - 1)
    ms_j = ss_j / (k - 1)
    ms_e = (ss_total - ss_b - ss_j) / ((n - 1) * (k - 1))
    ms_w = (ss_total - ss_b) / (n * (k - 1))
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (ms_b - ms_w) / (ms_b + (k - 1) * ms_w)
        icc2 = (ms_b - ms_e) / (ms_b + (k - 1) * ms_e + k * (ms_j - ms_e) / n)
        icc3 = (ms_b - ms_e) / (ms_b + (k - 1) * ms_e)
        icc1k = (ms_b - ms_w) / ms_b
        icc2k = (ms_b - ms_e) / (ms_b + (ms_j - ms_e) / n)
        icc3k = (ms_b - ms_e) / ms_b
        f1, df1n, df1d = ms_b / ms_w, n - 1, n * (k - 1)
        f3, df3n, df3d = ms_b / ms_e, n - 1, (n - 1) * (k - 1)
        p1, p3 = stats.f.sf(f1, df1n, df1d), stats.f.sf(f3, df3n, df3d)
        f1l, f1u = f1 / stats.f.ppf(1 - alpha / 2, df1n, df1d), f1 * stats.f.ppf(1 - alpha / 2, df1d, df1n)
        f3l, f3u = f3 / stats.f.ppf(1 - alpha / 2, df3n, df3d), f3 * stats.f.ppf(1 - alpha / 2, df3d, df3n)
        # ICC2: approximate df v of the denominator mean square (McGraw & Wong 1996, as psych)
        fj = ms_j / ms_e
        vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        fu, fl = stats.f.ppf(1 - alpha / 2, n - 1, v), stats.f.ppf(1 - alpha / 2, v, n - 1)
        l2 = n * (ms_b - fu * ms_e) / (fu * (k * ms_j + (k * n - k - n) * ms_e) + n * ms_b)
        u2 = n * (fl * ms_b - ms_e) / (k * ms_j + (k * n - k - n) * ms_e + n * fl * ms_b)
        ones = np.ones_like(grand)
        return {
            "icc": np.array([icc1, icc2, icc3, icc1k, icc2k, icc3k]),
            "F": np.array([f1, f3, f3, f1, f3, f3]),
            "df1": np.array([df1n * ones, df3n * ones, df3n * ones, df1n * ones, df3n * ones, df3n * ones]),
            "df2": np.array([df1d * ones, df3d * ones, df3d * ones, df1d * ones, df3d * ones, df3d * ones]),
            "p_value": np.array([p1, p3, p3, p1, p3, p3]),
            "low": np.array([(f1l - 1) / (f1l + k - 1), l2, (f3l - 1) / (f3l + k - 1),
                             1 - 1 / f1l, l2 * k / (1 + l2 * (k - 1)), 1 - 1 / f3l]),
            "high": np.array([(f1u - 1) / (f1u + k - 1), u2, (f3u - 1) / (f3u + k - 1),
                              1 - 1 / f1u, u2 * k / (1 + u2 * (k - 1)), 1 - 1 / f3u]),
        }


def icc(ratings_wide: Any, level: float = 0.95) -> IccResult:
    """All six Shrout-Fleiss ICCs of ``ratings_wide`` (n subjects x k raters, no missing values).

    F, df and one-sided p test ICC = 0; ``level`` CIs as ``psych::ICC(x, lmer=FALSE)``.
    """
    x = np.asarray(ratings_wide, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise StatsInputError("ratings_wide", f"must be subjects x raters with at least 2 of each, got shape {x.shape}")
    if np.isnan(x).any():
        raise StatsInputError("ratings_wide", f"has {int(np.isnan(x).sum())} missing ratings; ICC needs complete rows")
    arrays = _icc_arrays(x[:, :, None], check_level(level))
    table = pd.DataFrame({k: v[:, 0] for k, v in arrays.items()}, index=pd.Index(ICC_FORMS, name="form"))
    return IccResult(table, x.shape[0], x.shape[1])


def icc_per_feature(
    obs1_df: pd.DataFrame,
    obs2_df: pd.DataFrame,
    form: str = "ICC2",
    level: float = 0.95,
) -> pd.DataFrame:
    """ICC of every feature column between observers (rows = patients, aligned on the index).

    ``obs1_df``, ``obs2_df``: patients x features, same patients and features (any order). Returns one row per feature: icc, low, high, F, df1, df2, p_value, for ``form``
    (default ICC2 = two-way random, absolute agreement, single rater). NaN for constant features.
    Vectorised: ~1000 features x 30 patients take milliseconds.
    """
    if form not in ICC_FORMS:
        raise StatsInputError("form", f"must be one of {ICC_FORMS}, got {form!r}")
    frames = [obs1_df, obs2_df]
    ref = frames[0]
    for i, df in enumerate(frames[1:], start=2):
        if set(df.columns) != set(ref.columns):
            missing = sorted(set(ref.columns) ^ set(df.columns))[:5]
            raise StatsInputError(f"observer {i}", f"features differ from observer 1 (e.g. {missing})")
        if set(df.index) != set(ref.index):
            missing = sorted(map(str, set(ref.index) ^ set(df.index)))[:5]
            raise StatsInputError(f"observer {i}", f"patients differ from observer 1 (e.g. {missing})")
    x = np.stack([df.loc[ref.index, ref.columns].to_numpy(dtype=float) for df in frames], axis=1)
    nan_features = ref.columns[np.isnan(x).any(axis=(0, 1))]
    if len(nan_features):
        raise StatsInputError("features", f"{len(nan_features)} have missing values, e.g. {list(nan_features[:5])}")
    arrays = _icc_arrays(x, check_level(level))
    row = ICC_FORMS.index(form)
    cols = ["icc", "low", "high", "F", "df1", "df2", "p_value"]
    return pd.DataFrame({c: arrays[c][row] for c in cols}, index=pd.Index(ref.columns, name="feature"))


def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    weights: Literal["linear", "quadratic"] | None = None,
    level: float = 0.95,
    categories: Sequence[Any] | None = None,
) -> CohenKappa:
    """Cohen's kappa between two raters' labels ``a``, ``b`` (n,), weighted for ordinal scales.

    ``categories`` gives the order of the labels (default: sorted union of both raters' labels);
    ``weights`` "linear" or "quadratic" (Cicchetti / Fleiss-Cohen agreement weights). CI: kappa +- z SE
    with the large-sample SE of Fleiss, Cohen & Everitt 1969 (equals psych::cohen.kappa unweighted);
    p-value from the SE under kappa = 0. Computed by statsmodels ``cohens_kappa``.
    """
    a_arr, b_arr = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a_arr) != len(b_arr):
        raise StatsInputError("a, b", f"lengths differ: {len(a_arr)} and {len(b_arr)}")
    if pd.isna(a_arr).any() or pd.isna(b_arr).any():
        raise StatsInputError("a, b", "have missing labels; drop the cases first")
    cats = list(categories) if categories is not None else sorted(set(a_arr) | set(b_arr))
    unknown = (set(a_arr) | set(b_arr)) - set(cats)
    if unknown:
        raise StatsInputError("categories", f"do not include the labels {sorted(map(str, unknown))[:5]}")
    if weights not in (None, "linear", "quadratic"):
        raise StatsInputError("weights", f"must be None, 'linear' or 'quadratic', got {weights!r}")
    table = pd.crosstab(pd.Categorical(a_arr, cats), pd.Categorical(b_arr, cats), dropna=False).to_numpy()
    res = inter_rater.cohens_kappa(table, wt=weights)
    se = float(np.sqrt(res.var_kappa))
    z = float(stats.norm.ppf(1 - (1 - check_level(level)) / 2))
    p = float(2 * stats.norm.sf(abs(res.kappa / res.std_kappa0))) if res.std_kappa0 > 0 else float("nan")
    return CohenKappa(float(res.kappa), float(res.kappa - z * se), float(res.kappa + z * se), se, p, len(a_arr), weights)


def fleiss_kappa(ratings: Any) -> FleissKappa:
    """Fleiss' kappa for subjects x raters labels ``ratings`` (each subject rated by the same number).

    kappa as Fleiss 1971 (statsmodels ``fleiss_kappa``); SE under kappa = 0, z and two-sided p as
    Fleiss, Nee & Landis 1979 / ``irr::kappam.fleiss``; per-category kappas as Fleiss 1971.
    """
    r = pd.DataFrame(ratings)
    if r.shape[0] < 2 or r.shape[1] < 2:
        raise StatsInputError("ratings", f"must be subjects x raters with at least 2 of each, got {r.shape}")
    if r.isna().any().any():
        raise StatsInputError("ratings", "has missing labels; every subject needs every rater")
    cats = sorted(pd.unique(r.to_numpy().ravel()))
    counts = np.stack([(r == c).sum(axis=1).to_numpy() for c in cats], axis=1).astype(float)  # (N, categories)
    n_subj, m = counts.shape[0], r.shape[1]
    kappa = float(inter_rater.fleiss_kappa(counts, method="fleiss"))
    pj = counts.sum(axis=0) / (n_subj * m)
    pq = pj * (1 - pj)
    var0 = 2 / (pq.sum() ** 2 * n_subj * m * (m - 1)) * (pq.sum() ** 2 - np.sum(pq * (1 - 2 * pj)))
    se0 = float(np.sqrt(var0))
    kj = 1 - (counts * (m - counts)).sum(axis=0) / (n_subj * m * (m - 1) * pq)
    zj = kj / np.sqrt(2 / (n_subj * m * (m - 1)))
    per_cat = pd.DataFrame({"kappa": kj, "z": zj, "p_value": 2 * stats.norm.sf(np.abs(zj))}, index=pd.Index(cats, name="category"))
    z = kappa / se0
    return FleissKappa(kappa, se0, float(z), float(2 * stats.norm.sf(abs(z))), per_cat)
