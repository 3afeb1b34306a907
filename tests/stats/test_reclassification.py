"""reclassification.py against Hmisc::improveProb, Pencina 2008's formulas in base R, and a hand case."""

import numpy as np
import pytest
from scipy import stats

from hccrisk.stats import idi, nri
from tests.stats.binary_data import generated
from tests.stats.rref import requires_r, run_r

# Pencina 2008 test statistic (variance under no improvement), written out in base R
PENCINA = """
pencina <- function(y, d) {
  ue <- sum(d[y == 1] > 0); de <- sum(d[y == 1] < 0); un <- sum(d[y == 0] > 0); dn <- sum(d[y == 0] < 0)
  ne <- sum(y == 1); nn <- sum(y == 0)
  nri <- (ue - de)/ne + (dn - un)/nn
  c(2 * pnorm(-abs(nri / sqrt((ue + de)/ne^2 + (un + dn)/nn^2))),
    2 * pnorm(-abs(((ue - de)/ne) / sqrt((ue + de)/ne^2))), 2 * pnorm(-abs(((dn - un)/nn) / sqrt((un + dn)/nn^2))))
}
imp <- function(x) with(x, c(nri, nri - qnorm(0.975) * se.nri, nri + qnorm(0.975) * se.nri,
  nri.ev, nri.ev - qnorm(0.975) * se.nri.ev, nri.ev + qnorm(0.975) * se.nri.ev,
  nri.ne, nri.ne - qnorm(0.975) * se.nri.ne, nri.ne + qnorm(0.975) * se.nri.ne,
  idi, idi - qnorm(0.975) * se.idi, idi + qnorm(0.975) * se.idi, z.idi, 2 * pnorm(-abs(z.idi))))
"""


def test_nri_and_idi_hand_computed():
    # events: 2 up, 1 down, 1 same of 4; non-events: 1 up, 3 down of 5
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0]
    old = [0.2, 0.3, 0.5, 0.4, 0.3, 0.6, 0.5, 0.2, 0.1]
    new = [0.4, 0.5, 0.4, 0.4, 0.4, 0.3, 0.4, 0.1, 0.1]
    r = nri(y, old, new)
    assert (r.events.n_up, r.events.n_down, r.nonevents.n_up, r.nonevents.n_down) == (2, 1, 1, 3)
    assert r.events.estimate == pytest.approx(1 / 4) and r.nonevents.estimate == pytest.approx(2 / 5)
    assert r.nri == pytest.approx(1 / 4 + 2 / 5)
    z0 = (1 / 4 + 2 / 5) / np.sqrt(3 / 16 + 4 / 25)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(z0))
    d_ev = np.array([0.2, 0.2, -0.1, 0.0])
    d_ne = np.array([0.1, -0.3, -0.1, -0.1, 0.0])
    i = idi(y, old, new)
    assert i.idi == pytest.approx(d_ev.mean() - d_ne.mean())
    assert i.z == pytest.approx(i.idi / np.sqrt(d_ev.var(ddof=1) / 4 + d_ne.var(ddof=1) / 5))


def test_categorical_nri_uses_left_closed_categories():
    # a risk exactly at the cut-off belongs to the upper category
    r = nri([1, 0, 1, 0], [0.19, 0.25, 0.3, 0.1], [0.2, 0.19, 0.3, 0.1], cutoffs=[0.2])
    assert (r.events.n_up, r.nonevents.n_down) == (1, 1)
    assert r.table.to_numpy().sum() == 4 and r.cutoffs == (0.2,)


@requires_r
@pytest.mark.parametrize("cutoffs", [None, [0.2, 0.4]])
def test_nri_idi_match_hmisc_and_pencina(cutoffs):
    g = generated()
    if cutoffs is None:
        code = 'd1 <- g$p_old; d2 <- g$p_new'
    else:  # categories [0, .2), [.2, .4), [.4, 1], as PredictABEL::reclassification
        code = ('br <- c(0, 0.2, 0.4, 1); d1 <- as.numeric(cut(g$p_old, br, right = FALSE, include.lowest = TRUE))/3; '
                'd2 <- as.numeric(cut(g$p_new, br, right = FALSE, include.lowest = TRUE))/3')
    ref = run_r(PENCINA + code + '; out("imp", imp(Hmisc::improveProb(d1, d2, g$y))); out("p", pencina(g$y, d2 - d1))', g=g)
    r = nri(g.y, g.p_old, g.p_new, cutoffs=cutoffs)
    got = [r.nri, r.low, r.high, *tuple(r.events)[:3], *tuple(r.nonevents)[:3]]
    np.testing.assert_allclose(got, ref["imp"][:9], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose([r.p_value, r.events.p_value, r.nonevents.p_value], ref["p"], rtol=1e-8)
    if cutoffs is None:
        i = idi(g.y, g.p_old, g.p_new)
        np.testing.assert_allclose([i.idi, i.low, i.high, i.z, i.p_value], ref["imp"][9:], rtol=1e-10)


def test_bad_cutoffs_and_probabilities():
    with pytest.raises(ValueError, match="cutoffs"):
        nri([0, 1], [0.1, 0.5], [0.2, 0.6], cutoffs=[0.5, 0.2])
    with pytest.raises(ValueError, match="p_new"):
        idi([0, 1, 0, 1], [0.1, 0.5, 0.2, 0.3], [0.2, 1.6, 0.1, 0.2])
