"""Outcomes (outcomes.csv) and true risks (truth.csv) from the latents and the received treatment.

Generating model (times in months from treatment; s = signal; equations in docs/synthetic.md):

- recurrence, cause-specific Weibull hazard: H1(t) = l1 * t**k1 * exp(lp1),
  lp1 = s * (b_a*a + b_n*(number-1) + b_s*log(size/3) + b_r*r + [RFA] * (g0 + g1*a))
  (treatment-by-aggressiveness interaction: SR is better for aggressive tumours)
- death without recurrence (competing): H2(t) = l2 * t * exp(lp2), lp2 = s*(d_r*r + d_c*cirrhosis + d_age*(age-57))
- death after recurrence: exponential, rate l3 * exp(s*(0.5*a - 0.4*r)) * (0.6 if retreated)
- retreatment after recurrence: P = sigmoid(0.6 + s*(0.8*r - 0.3*(number-1)))
- censoring: min(Uniform(18, 84), Exponential(mean 240)), independent of everything

With s = 0 every outcome is independent of the latents, hence of images and clinical values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hccrisk.synth.latent import PatientLatents

HORIZONS_MONTHS = {"6m": 6.0, "1y": 12.0, "2y": 24.0}
OUTCOME_COLUMNS: tuple[str, ...] = (
    "patient_id", "recurrence_time", "recurrence_event", "event_type", "event_time", "pfs_time",
    "pfs_event", "os_time", "os_event", "er_6m", "er_1y", "er_2y", "retreatment",
)


@dataclass(frozen=True)
class HazardModel:
    """Coefficients of the generating model (per unit of the latent; months)."""

    l1: float = 0.04
    k1: float = 0.8
    b_a: float = 1.0
    b_n: float = 0.25
    b_s: float = 0.35
    b_r: float = -0.3
    g0: float = 0.15
    g1: float = 0.5
    l2: float = 0.003
    d_r: float = -0.6
    d_c: float = 0.4
    d_age: float = 0.03
    l3: float = 0.025
    swap_margin: float = 0.05  #: 2-year PFS gain that counts as "better off swapped"


MODEL = HazardModel()
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)


def lp_recurrence(p: PatientLatents, treatment: str, m: HazardModel = MODEL) -> float:
    """True linear predictor of the recurrence hazard under ``treatment`` ("RFA" or "SR")."""
    if treatment not in ("RFA", "SR"):
        raise ValueError(f"treatment must be RFA or SR, got {treatment!r}")
    a = p.aggressiveness
    base = (m.b_a * a + m.b_n * (p.tumour_number - 1) + m.b_s * np.log(p.tumour_size_cm / 3.0)
            + m.b_r * p.liver_reserve)
    rfa = (m.g0 + m.g1 * a) if treatment == "RFA" else 0.0
    return float(p.signal * (base + rfa))


def lp_death(p: PatientLatents, m: HazardModel = MODEL) -> float:
    """True linear predictor of the hazard of death without recurrence."""
    return float(p.signal * (m.d_r * p.liver_reserve + m.d_c * p.cirrhosis + m.d_age * (p.age - 57)))


def cumulative_incidence_recurrence(lp1: float, lp2: float, horizon: float, m: HazardModel = MODEL) -> float:
    """P(recurrence by ``horizon`` months, before death) = int_0^h h1 S1 S2 du.

    With v = u**k1 the integrand is smooth: int_0^{h**k1} c1 exp(-c1 v - c2 v**(1/k1)) dv, where
    c1 = l1 exp(lp1) and the death term uses u = v**(1/k1); 64-point Gauss-Legendre (error < 1e-10).
    """
    c1, c2 = m.l1 * np.exp(lp1), m.l2 * np.exp(lp2)
    vmax = horizon ** m.k1
    v = 0.5 * vmax * (_GL_X + 1.0)
    f = c1 * np.exp(-c1 * v - c2 * v ** (1.0 / m.k1))
    return float(0.5 * vmax * np.dot(_GL_W, f))


def pfs_probability(lp1: float, lp2: float, horizon: float, m: HazardModel = MODEL) -> float:
    """P(alive without recurrence at ``horizon`` months) = exp(-H1 - H2)."""
    return float(np.exp(-m.l1 * horizon ** m.k1 * np.exp(lp1) - m.l2 * horizon * np.exp(lp2)))


def true_risks(p: PatientLatents, treatment: str, m: HazardModel = MODEL) -> dict[str, float]:
    """truth.csv risk columns for a patient who received ``treatment``."""
    lp_rfa, lp_sr, lp2 = lp_recurrence(p, "RFA", m), lp_recurrence(p, "SR", m), lp_death(p, m)
    lp1 = lp_rfa if treatment == "RFA" else lp_sr
    pfs = {t: pfs_probability(lp, lp2, 24.0, m) for t, lp in (("RFA", lp_rfa), ("SR", lp_sr))}
    other = "SR" if treatment == "RFA" else "RFA"
    out = {"lp_recurrence": lp1, "lp_recurrence_rfa": lp_rfa, "lp_recurrence_sr": lp_sr, "lp_death": lp2}
    for name, h in HORIZONS_MONTHS.items():
        out[f"p_er_{name}"] = cumulative_incidence_recurrence(lp1, lp2, h, m)
    out["p_pfs_2y_rfa"], out["p_pfs_2y_sr"] = pfs["RFA"], pfs["SR"]
    out["better_off_swapped"] = int(pfs[other] - pfs[treatment] > m.swap_margin)
    return out


def draw_outcomes(p: PatientLatents, treatment: str, m: HazardModel = MODEL) -> dict[str, object]:
    """One outcomes.csv row (times in months, 2 decimals; ``None`` = empty cell).

    Random draws come from the patient's "outcomes" stream in a fixed order, so the same uniforms are
    used whatever the signal (a signal-0 cohort is the signal-1 cohort with the effects switched off).
    """
    g = p.rng("outcomes")
    e1, e2, e3 = g.standard_exponential(3)
    u_retreat = g.random()
    admin = g.uniform(18.0, 84.0)
    dropout = g.exponential(240.0)
    lp1, lp2 = lp_recurrence(p, treatment, m), lp_death(p, m)
    t_rec = (e1 / (m.l1 * np.exp(lp1))) ** (1.0 / m.k1)
    t_death = e2 / (m.l2 * np.exp(lp2))
    censor = min(admin, dropout)

    t = round(float(min(t_rec, t_death, censor)), 2)
    t = max(t, 0.01)
    if t_rec <= min(t_death, censor):
        event_type = 1
    elif t_death <= censor:
        event_type = 2
    else:
        event_type = 0

    retreat = 0
    if event_type == 1:
        retreat = int(u_retreat < 1.0 / (1.0 + np.exp(-(0.6 + p.signal * (0.8 * p.liver_reserve
                                                                             - 0.3 * (p.tumour_number - 1))))))
        rate = m.l3 * np.exp(p.signal * (0.5 * p.aggressiveness - 0.4 * p.liver_reserve)) * (0.6 if retreat else 1.0)
        death = t_rec + e3 / rate
        os_time, os_event = min(death, censor), int(death <= censor)
    elif event_type == 2:
        os_time, os_event = t_death, 1
    else:
        os_time, os_event = censor, 0
    os_time = max(round(float(os_time), 2), t)

    row: dict[str, object] = {
        "patient_id": p.patient_id,
        "recurrence_time": t, "recurrence_event": int(event_type == 1),
        "event_type": event_type, "event_time": t,
        "pfs_time": t, "pfs_event": int(event_type > 0),
        "os_time": os_time, "os_event": os_event,
    }
    for name, h in HORIZONS_MONTHS.items():
        if event_type == 1 and t <= h:
            row[f"er_{name}"] = 1
        elif t > h or event_type == 2:
            row[f"er_{name}"] = 0
        else:
            row[f"er_{name}"] = None  # censored before the horizon
    row["retreatment"] = retreat
    return row
