"""The Cox partial likelihood of the Cox-CNN against R ``coxph`` (Breslow and Efron ties), its gradient,
and a Cox-CNN learning a planted hazard from toy cines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hccrisk.errors import InputError
from hccrisk.nets.cox import (CoxTrainConfig, build_cox_cnn, cox_loss, cox_partial_log_likelihood, fit_cox,
                              predict_log_hazard)
from hccrisk.stats import harrell_c
from tests.stats.rref import requires_r, run_r


def _survival_with_ties(n: int = 40, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    eta = rng.normal(0, 1, n)
    # times rounded to whole months: many tied event and censoring times, as in follow-up data
    time = np.ceil(rng.exponential(12 * np.exp(-eta)))
    event = (rng.random(n) < 0.7).astype(int)
    return pd.DataFrame({"time": time, "event": event, "eta": eta})


@requires_r
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_partial_likelihood_matches_r_coxph(ties):
    df = _survival_with_ties()
    assert df.time[df.event == 1].duplicated().any()  # the example really has tied events
    ref = run_r(f"""
library(survival)
fit <- coxph(Surv(time, event) ~ offset(eta), data = d, ties = "{ties}")
out("loglik", fit$loglik)
""", d=df)
    ours = cox_partial_log_likelihood(torch.tensor(df.eta.to_numpy()), torch.tensor(df.time.to_numpy()),
                                      torch.tensor(df.event.to_numpy()), ties=ties)
    assert float(ours) == pytest.approx(float(ref["loglik"][0]), abs=1e-8)


def test_gradient_matches_the_cox_score():
    """d loglik / d eta_i = delta_i - sum over event times t_k <= t_i of exp(eta_i) / S(t_k) (Breslow)."""
    df = _survival_with_ties(25, seed=7)
    eta = torch.tensor(df.eta.to_numpy(), requires_grad=True)
    cox_partial_log_likelihood(eta, torch.tensor(df.time.to_numpy()), torch.tensor(df.event.to_numpy())).backward()
    t, e, r = df.time.to_numpy(), df.event.to_numpy(), np.exp(df.eta.to_numpy())
    expected = e.astype(float).copy()
    for k in np.flatnonzero(e):
        risk = t >= t[k]
        expected[risk] -= r[risk] / r[risk].sum()
    np.testing.assert_allclose(eta.grad.numpy(), expected, atol=1e-10)


def test_loss_is_shift_invariant_and_rejects_bad_input():
    df = _survival_with_ties(20)
    args = torch.tensor(df.time.to_numpy()), torch.tensor(df.event.to_numpy())
    eta = torch.tensor(df.eta.to_numpy())
    assert float(cox_loss(eta + 50.0, *args)) == pytest.approx(float(cox_loss(eta, *args)), abs=1e-9)
    assert float(cox_loss(eta, args[0], torch.zeros(20))) == 0.0
    with pytest.raises(InputError, match="sizes differ"):
        cox_loss(eta[:5], *args)
    with pytest.raises(InputError, match="ties"):
        cox_loss(eta, *args, ties="exact")


def test_cox_cnn_learns_a_planted_hazard():
    """Toy cines whose central blob's enhancement (relative to its surroundings, as a tumour vs liver) sets
    the hazard: after a few epochs the training log hazards rank the survival times (C > 0.75 and within 0.05 of the true level's C)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    n, k = 40, 2
    level = rng.uniform(0, 1, n)
    cases = {}
    for i in range(n):
        x = rng.uniform(0.2, 0.4, (k, 3, 4, 16, 16))
        x[..., 4:12, 4:12] += level[i] * 0.6
        cases[f"p{i}"] = x.astype(np.float32)
    time = {f"p{i}": float(rng.exponential(20 * np.exp(-6.0 * level[i]))) for i in range(n)}
    event = {p: int(rng.random() < 0.8) for p in cases}
    net = build_cox_cnn(widths=(8, 16), clusters=4)
    fit_cox(net, cases, time, event, CoxTrainConfig(epochs=15, lr=3e-3, device="cpu"), progress=False)
    lh = predict_log_hazard(net, cases, device="cpu")
    assert list(lh) == list(cases)
    ids = list(cases)
    c = harrell_c([time[p] for p in ids], [event[p] for p in ids], [lh[p] for p in ids]).c
    c_true = harrell_c([time[p] for p in ids], [event[p] for p in ids], level).c
    print(f"toy Cox-CNN training C {c:.3f} (true level {c_true:.3f})")
    assert c > 0.75 and c > c_true - 0.05
