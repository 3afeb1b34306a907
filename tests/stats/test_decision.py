"""decision.py: Vickers' net benefit against a base-R implementation and a hand-computed case."""

import numpy as np
import pytest

from hccrisk.stats import net_benefit
from tests.stats.binary_data import generated
from tests.stats.rref import requires_r, run_r


def test_net_benefit_hand_computed():
    # 10 patients, 4 events; at pt = 0.25 the model treats 5 (3 events, 2 non-events)
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    p = [0.9, 0.6, 0.3, 0.1, 0.5, 0.25, 0.2, 0.1, 0.05, 0.0]
    row = net_benefit(y, p, [0.25]).iloc[0]
    assert (row.tp, row.fp) == (3, 2)
    assert row.net_benefit == pytest.approx(3 / 10 - 2 / 10 * (0.25 / 0.75))
    assert row.treat_all == pytest.approx(0.4 - 0.6 * (0.25 / 0.75))
    assert row.treat_none == 0


@requires_r
def test_net_benefit_matches_base_r_formula():
    g = generated()
    ref = run_r(
        'pt <- seq(0, 0.99, by = 0.01); n <- nrow(d); prev <- mean(d$y)\n'
        'nb <- sapply(pt, function(t) sum(d$p_new >= t & d$y == 1)/n - sum(d$p_new >= t & d$y == 0)/n * t/(1 - t))\n'
        'out("nb", nb); out("all", prev - (1 - prev) * pt/(1 - pt))',
        d=g,
    )
    got = net_benefit(g.y, g.p_new)
    assert len(got) == 100 and got.threshold.iloc[-1] == 0.99
    np.testing.assert_allclose(got.net_benefit, ref["nb"], atol=1e-12)
    np.testing.assert_allclose(got.treat_all, ref["all"], atol=1e-12)
    # at pt = 0 the model treats everyone, so it equals treat-all
    assert got.net_benefit.iloc[0] == pytest.approx(got.treat_all.iloc[0])


def test_threshold_of_one_is_rejected():
    with pytest.raises(ValueError, match="thresholds"):
        net_benefit([0, 1], [0.2, 0.7], [0.5, 1.0])
