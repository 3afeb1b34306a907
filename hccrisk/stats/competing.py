"""Competing risks: cumulative incidence with Gray's test, and Fine-Gray subdistribution-hazard regression.

No Python library reproduces R ``cmprsk``; these are our implementations of the published methods
(Gray 1988; Fine & Gray 1999, with the censoring-weighted risk sets and sandwich variance of ``crr``),
checked against ``cmprsk::cuminc`` and ``cmprsk::crr`` in tests/stats/test_competing.py.
Event codes: 0 censored, any other integer a cause (e.g. 1 recurrence, 2 death without recurrence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from hccrisk.stats._result import Result
from hccrisk.stats.survival import SurvivalInputError, Z95, group_levels, km_steps

__all__ = ["CumulativeIncidence", "FineGray", "cumulative_incidence", "fine_gray"]


def _check_competing(time: ArrayLike, event: ArrayLike, cause: int, **others: ArrayLike):
    t = np.asarray(time, dtype=float)
    ev = np.asarray(event, dtype=float)
    if t.ndim != 1 or ev.shape != t.shape:
        raise SurvivalInputError("time/event", f"need two 1-D arrays of one length, got {t.shape}, {ev.shape}")
    for name, arr in (("time", t), ("event", ev)):
        if not np.all(np.isfinite(arr)):
            raise SurvivalInputError(name, f"{int(np.sum(~np.isfinite(arr)))} NaN/infinite value(s)")
    if np.any(t < 0):
        raise SurvivalInputError("time", f"{int(np.sum(t < 0))} negative time(s)")
    if np.any(ev != np.round(ev)) or np.any(ev < 0):
        raise SurvivalInputError("event", "codes must be 0 (censored) or positive integers (causes)")
    if not np.any(ev == cause):
        raise SurvivalInputError("event", f"no event of cause {cause}")
    out = []
    for name, values in others.items():
        arr = np.asarray(values)
        if arr.shape[:1] != t.shape:
            raise SurvivalInputError(name, f"has length {arr.shape[:1]}, time has {t.shape[0]}")
        if pd.isna(arr).any():
            raise SurvivalInputError(name, f"{int(pd.isna(arr).sum())} missing value(s)")
        out.append(arr)
    return (t, ev.astype(int), *out)


# ----------------------------------------------------------------------------- cumulative incidence
@dataclass(frozen=True)
class CumulativeIncidence(Result):
    """Cumulative incidence of one cause, per group, as ``cmprsk::cuminc``.

    ``table``: group, time (each distinct time of the cause), cif, variance (Gray's / cuminc's), lower,
    upper (95% CI on the log(-log) scale, our addition: cuminc gives none). ``at_times``: the same at
    requested times (NaN after a group's last follow-up, as ``cmprsk::timepoints``). ``chisq``, ``df``,
    ``p_value``: Gray's k-sample test (rho = 0) for this cause; NaN with a single group.
    """

    table: pd.DataFrame
    at_times: pd.DataFrame
    chisq: float
    df: int
    p_value: float


def _cif_steps(time: np.ndarray, event: np.ndarray, cause: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aalen-Johansen CIF and Gray's variance at each distinct time with a ``cause`` event."""
    times = np.unique(time)
    n = time.size
    surv, cif, v1, v2, v3 = 1.0, 0.0, 0.0, 0.0, 0.0
    out_t, out_f, out_v = [], [], []
    at_risk = n
    for u in times:
        here = time == u
        d1 = int(np.sum(here & (event == cause)))
        d2 = int(np.sum(here & (event != cause) & (event != 0)))
        if d1 + d2 > 0:
            surv_next = surv * (at_risk - d1 - d2) / at_risk
            cif += surv * d1 / at_risk
            for d, own in ((d2, False), (d1, True)):  # other causes first, then the cause (Gray's order)
                if d == 0 or (not own and surv_next <= 0):
                    continue
                tie = 1 - (d - 1) / (at_risk - 1) if d > 1 else 1.0
                w = surv**2 * tie * d / at_risk**2
                inv = 1 / surv_next if surv_next > 0 else 0.0
                lead = 1 + inv * cif if own else cif * inv
                v1, v2, v3 = v1 + lead**2 * w, v2 + inv * lead * w, v3 + inv**2 * w
            if d1 > 0:
                out_t.append(u)
                out_f.append(cif)
                out_v.append(v1 + cif**2 * v3 - 2 * cif * v2)
            surv = surv_next
        at_risk -= int(here.sum())
    return np.array(out_t), np.array(out_f), np.array(out_v)


def _loglog_ci(f: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% CI of a CIF on the log(-log) scale; NaN where F is 0 or 1."""
    with np.errstate(all="ignore"):
        k = Z95 * np.sqrt(var) / (f * np.log(f))
        a, b = f ** np.exp(k), f ** np.exp(-k)
    ok = (f > 0) & (f < 1)
    return np.where(ok, np.minimum(a, b), np.nan), np.where(ok, np.maximum(a, b), np.nan)


def _gray_test(time: np.ndarray, event: np.ndarray, group_idx: np.ndarray, n_groups: int, cause: int,
               rho: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Gray's (1988) score vector (G-1,) and its variance (G-1, G-1) for equal CIFs of ``cause``."""
    g1 = n_groups - 1
    at_risk = np.bincount(group_idx, minlength=n_groups).astype(float)
    f1m, f1, skmm, skm = np.zeros(n_groups), np.zeros(n_groups), np.ones(n_groups), np.ones(n_groups)
    v3, v2, c = np.zeros(n_groups), np.zeros((g1, n_groups)), np.zeros((n_groups, n_groups))
    score, var = np.zeros(g1), np.zeros((g1, g1))
    fm = f = 0.0
    for u in np.unique(time):
        here = time == u
        d1 = np.bincount(group_idx[here & (event == cause)], minlength=n_groups).astype(float)
        d2 = np.bincount(group_idx[here & (event != cause) & (event != 0)], minlength=n_groups).astype(float)
        nd1, nd2 = d1.sum(), d2.sum()
        if nd1 + nd2 > 0:
            live = at_risk > 0
            skm = np.where(live, skmm * (at_risk - d1 - d2) / np.where(live, at_risk, 1), skm)
            f1 = np.where(live, f1m + skmm * d1 / np.where(live, at_risk, 1), f1)
            with np.errstate(divide="ignore", invalid="ignore"):
                h = np.where(live, at_risk / skmm, 0.0)  # R_k / S_k(t-)
            tr, tq = h.sum(), (h * (1 - f1m)).sum()
            f = fm + nd1 / tr
            fb = (1 - fm) ** rho
            a = -fb * np.outer(h, h) / tr
            a[np.diag_indices(n_groups)] = fb * h * (1 - h / tr)
            c += a * nd1 / (tr * (1 - fm))
            score += np.where(live, fb * (d1 - nd1 * h * (1 - f1m) / tq), 0.0)[:g1]
            if nd1 > 0:
                for k in np.flatnonzero(live):
                    t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                    t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                    t3 = t5 * skmm[k] * nd1 / (tr * at_risk[k])
                    v3[k] += t4**2 * t3
                    t1 = a[:g1, k] - t4 * c[:g1, k]
                    v2[:, k] += t1 * t4 * t3
                    var += np.outer(t1, t1) * t3
            if nd2 > 0:
                for k in np.flatnonzero((skm > 0) & (d2 > 0)):
                    t4 = (1 - f) / skm[k]
                    t5 = 1 - (d2[k] - 1) / (at_risk[k] - 1) if d2[k] > 1 else 1.0
                    t3 = t5 * skmm[k] ** 2 * d2[k] / at_risk[k] ** 2
                    v3[k] += t4**2 * t3
                    t1 = t4 * c[:g1, k]
                    v2[:, k] -= t1 * t4 * t3
                    var += np.outer(t1, t1) * t3
        at_risk -= np.bincount(group_idx[here], minlength=n_groups)
        fm, f1m, skmm = f, f1.copy(), skm.copy()
    cg = c[:g1]
    var += (cg * v3) @ cg.T + cg @ v2.T + v2 @ cg.T
    return score, var


def cumulative_incidence(time: ArrayLike, event: ArrayLike, cause: int = 1, group: ArrayLike | None = None,
                         times: Sequence[float] | None = None) -> CumulativeIncidence:
    """Cumulative incidence of ``cause`` with competing causes, per ``group``, plus Gray's test.

    ``event`` (n,): 0 censored, else the cause code. Estimates and variances equal ``cmprsk::cuminc``
    (Aalen-Johansen; Gray's delta-method variance); the test is ``cuminc``'s Gray test with rho = 0.
    """
    t, ev = _check_competing(time, event, cause)
    g = np.zeros(t.size, dtype=int) if group is None else _check_competing(t, ev, cause, group=group)[2]
    levels = group_levels(g)
    request = np.sort(np.asarray(times, dtype=float)) if times is not None else np.array([])
    rows, at_rows = [], []
    for lev in levels:
        mask = g == lev
        ts, fs, vs = _cif_steps(t[mask], ev[mask], cause)
        lo, hi = _loglog_ci(fs, vs)
        label = None if group is None else lev
        rows.append(pd.DataFrame({"group": label, "time": ts, "cif": fs, "variance": vs, "lower": lo, "upper": hi}))
        if request.size:
            idx = np.searchsorted(ts, request, side="right") - 1
            f_at = np.where(idx >= 0, fs[np.maximum(idx, 0)] if fs.size else 0.0, 0.0)
            v_at = np.where(idx >= 0, vs[np.maximum(idx, 0)] if vs.size else 0.0, 0.0)
            beyond = request > t[mask].max()
            f_at, v_at = np.where(beyond, np.nan, f_at), np.where(beyond, np.nan, v_at)
            lo, hi = _loglog_ci(f_at, v_at)
            at_rows.append(pd.DataFrame({"group": label, "time": request, "cif": f_at, "variance": v_at,
                                         "lower": lo, "upper": hi}))
    chisq, df, p = float("nan"), 0, float("nan")
    if len(levels) > 1:
        idx = np.asarray(pd.Categorical(g, categories=levels).codes)
        score, var = _gray_test(t, ev, idx, len(levels), cause)
        df = len(levels) - 1
        chisq = float(score @ np.linalg.solve(var, score))
        p = float(stats.chi2.sf(chisq, df))
    at_times = pd.concat(at_rows, ignore_index=True) if at_rows else pd.DataFrame(
        columns=["group", "time", "cif", "variance", "lower", "upper"])
    return CumulativeIncidence(pd.concat(rows, ignore_index=True), at_times, chisq, df, p)


# ---------------------------------------------------------------------------------------- Fine-Gray
@dataclass(frozen=True)
class FineGray(Result):
    """Fine-Gray subdistribution-hazard model for one cause, as ``cmprsk::crr``.

    ``table`` (index = covariate): coef, hr (subdistribution HR), hr_low, hr_high (95% Wald CI with the
    robust variance), se, z, p. ``log_likelihood`` / ``log_likelihood_null``: the weighted pseudo
    log-likelihood at the estimate and at 0 (crr's ``loglik`` / ``loglik.null``).
    """

    table: pd.DataFrame
    log_likelihood: float
    log_likelihood_null: float
    n: int
    events: int
    competing_events: int
    converged: bool


class _FineGrayTerms:
    """Risk-set weights of crr: subjects still event-free weigh 1; a subject who had a competing event at
    T_j stays in later risk sets at t with weight G(t-) / G(T_j-), G the KM of the censoring times."""

    def __init__(self, t: np.ndarray, ev: np.ndarray, x: np.ndarray, cause: int):
        self.t, self.x = t, x
        self.fail = ev == cause
        self.comp = (ev != cause) & (ev != 0)
        self.cens = ev == 0
        cens_km = km_steps(t, self.cens.astype(float))
        idx = np.searchsorted(cens_km["time"], t, side="left") - 1  # last censoring-KM step strictly before t
        g_minus = np.where(idx >= 0, cens_km["survival"][np.maximum(idx, 0)], 1.0)
        self.fi = np.flatnonzero(self.fail)
        tf = t[self.fi]
        later = t[:, None] >= tf[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            carried = self.comp[:, None] & ~later
            self.w = later.astype(float) + np.where(carried, g_minus[self.fi][None, :] / g_minus[:, None], 0.0)

    def at(self, beta: np.ndarray) -> dict[str, np.ndarray]:
        eta = self.x @ beta
        r = np.exp(eta)
        wr = self.w * r[:, None]  # (n, F)
        s0 = wr.sum(0)
        s1 = wr.T @ self.x  # (F, p)
        zbar = s1 / s0[:, None]
        return {"eta": eta, "r": r, "s0": s0, "zbar": zbar,
                "loglik": float(np.sum(eta[self.fi] - np.log(s0)))}

    def score_information(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        st = self.at(beta)
        score = (self.x[self.fi] - st["zbar"]).sum(0)
        s2 = np.einsum("if,ip,iq->pq", self.w * st["r"][:, None] / st["s0"][None, :], self.x, self.x)
        info = s2 - st["zbar"].T @ st["zbar"]
        return score, info, st

    def robust_variance(self, beta: np.ndarray) -> np.ndarray:
        """Fine & Gray's sandwich I^-1 (sum_i (eta_i + psi_i)^2) I^-1; psi_i carries the variability of G."""
        _, info, st = self.score_information(beta)
        r, s0, zbar, x, t = st["r"], st["s0"], st["zbar"], self.x, self.t
        k = self.w * r[:, None] / s0[None, :]  # (n, F)
        eta = -(x * k.sum(1)[:, None] - k @ zbar)
        own = np.zeros_like(x)
        own[self.fi] = x[self.fi] - zbar  # dN part: each failure against its own risk set
        eta += own
        cens_times = np.unique(t[self.cens])
        if cens_times.size:
            before = self.comp[None, :] & (t[None, :] < cens_times[:, None])  # (C, n): competing before u
            onward = t[self.fi][None, :] >= cens_times[:, None]  # (C, F): failures at or after u
            kc = np.where(self.comp[:, None], k, 0.0)
            q = (before * (kc @ onward.T).T) @ x - (onward * (before @ kc)) @ zbar  # (C, p)
            n_risk = (t[None, :] >= cens_times[:, None]).sum(1).astype(float)
            n_cens = (self.cens[None, :] & (t[None, :] == cens_times[:, None])).sum(1).astype(float)
            cum = np.cumsum(q * (n_cens / n_risk**2)[:, None], axis=0)
            upto = np.searchsorted(cens_times, t, side="right") - 1
            psi = -np.where(upto[:, None] >= 0, cum[np.maximum(upto, 0)], 0.0)
            ci = np.searchsorted(cens_times, t[self.cens])
            psi[self.cens] += q[ci] / n_risk[ci][:, None]
            eta += psi
        inv = np.linalg.inv(info)
        return inv @ (eta.T @ eta) @ inv


def fine_gray(df: pd.DataFrame, duration: str, event: str, cause: int, covariates: Sequence[str]) -> FineGray:
    """Fine-Gray regression of the subdistribution hazard of ``cause`` on numeric ``covariates``.

    ``df[event]``: 0 censored, other codes causes; equals ``crr(ftime, fstatus, cov1, failcode = cause,
    cencode = 0)`` (Breslow-type ties, one censoring group). Fitted by step-halving Newton.
    """
    covariates = list(covariates)
    absent = [c for c in [duration, event, *covariates] if c not in df.columns]
    if absent:
        raise SurvivalInputError("df", f"has no column(s) {absent}")
    if not covariates:
        raise SurvivalInputError("covariates", "need at least one covariate")
    non_numeric = [c for c in covariates if df[c].dtype.kind not in "biuf"]
    if non_numeric:
        raise SurvivalInputError("covariates", f"{non_numeric} are not numeric; dummy-code them first")
    t, ev, x = _check_competing(df[duration], df[event], cause, covariates=df[covariates].to_numpy(dtype=float))
    x = x.astype(float)
    terms = _FineGrayTerms(t, ev, x - x.mean(0), cause)  # centring leaves the estimating equation unchanged
    beta = np.zeros(len(covariates))
    loglik = terms.at(beta)["loglik"]
    loglik_null, converged = loglik, False
    for _ in range(100):
        score, info, _ = terms.score_information(beta)
        step = np.linalg.solve(info, score)
        for _ in range(30):
            with np.errstate(all="ignore"):
                new = terms.at(beta + step)["loglik"]
            if np.isfinite(new) and new >= loglik - 1e-12:
                break
            step /= 2
        beta, change, loglik = beta + step, abs(new - loglik), new
        if change < 1e-13 * (1 + abs(loglik)) and np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    se = np.sqrt(np.diag(terms.robust_variance(beta)))
    z = beta / se
    table = pd.DataFrame({"coef": beta, "hr": np.exp(beta), "hr_low": np.exp(beta - Z95 * se),
                          "hr_high": np.exp(beta + Z95 * se), "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
                         index=pd.Index(covariates, name="covariate"))
    return FineGray(table, float(loglik), float(loglik_null), int(t.size), int(terms.fail.sum()),
                    int(terms.comp.sum()), converged)
