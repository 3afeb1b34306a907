"""roc.py against R pROC 1.18 (aSAH and generated data with ties) and hand-computed cases."""

import numpy as np
import pandas as pd
import pytest

from hccrisk.stats import auc_ci, delong_test, delong_unpaired, diagnostic_metrics, youden_cutoff
from tests.stats.binary_data import asah, generated
from tests.stats.rref import requires_r, run_r

PROC = 'suppressMessages(library(pROC)); roc1 <- function(y, s) roc(y, s, levels = c(0, 1), direction = "<", quiet = TRUE)\n'


def test_auc_hand_case_with_tie():
    # cases 0.35, 0.8; controls 0.1, 0.35: pairs (0.35 vs 0.1)=1, (0.35 vs 0.35)=1/2, 0.8 beats both -> 3.5/4
    auc, low, high = auc_ci([0, 0, 1, 1], [0.1, 0.35, 0.35, 0.8])
    assert auc == pytest.approx(0.875)
    assert 0 <= low <= auc <= high <= 1


@requires_r
@pytest.mark.parametrize("marker", ["s100b", "wfns", "ndka"])
def test_auc_delong_ci_matches_proc_on_asah(marker):
    d = asah()
    ref = run_r(PROC + 'r <- roc1(d$y, d$s); out("ci", ci.auc(r, method = "delong")); '
                'out("ci90", ci.auc(r, conf.level = 0.9, method = "delong"))',
                d=pd.DataFrame({"y": d.y, "s": d[marker]}))
    np.testing.assert_allclose(auc_ci(d.y, d[marker]), ref["ci"][[1, 0, 2]], atol=1e-10)
    np.testing.assert_allclose(auc_ci(d.y, d[marker], level=0.9), ref["ci90"][[1, 0, 2]], atol=1e-10)


@requires_r
def test_delong_paired_and_unpaired_match_proc():
    d, g = asah(), generated()
    ref = run_r(
        PROC
        + 't <- roc.test(roc1(d$y, d$s100b), roc1(d$y, d$wfns), paired = TRUE, method = "delong"); '
        'out("paired", c(t$statistic, t$p.value, t$estimate)); '
        't2 <- roc.test(roc1(g$y, g$a), roc1(g$y, g$b), paired = TRUE, method = "delong"); '
        'out("paired_g", c(t2$statistic, t2$p.value, t2$estimate)); '
        'u <- roc.test(roc1(d$y, d$s100b), roc1(g$y, g$a), paired = FALSE, method = "delong"); '
        'out("unpaired", c(u$statistic, u$p.value, u$estimate, u$parameter))',
        d=d, g=g,
    )
    np.testing.assert_allclose(tuple(delong_test(d.y, d.s100b, d.wfns)), ref["paired"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(tuple(delong_test(g.y, g.a, g.b)), ref["paired_g"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(tuple(delong_unpaired(d.y, d.s100b, g.y, g.a)), ref["unpaired"], rtol=1e-8, atol=1e-12)


def test_delong_test_is_symmetric_and_nan_for_identical_scores():
    g = generated()
    ab, ba = delong_test(g.y, g.a, g.b), delong_test(g.y, g.b, g.a)
    assert ab.z == pytest.approx(-ba.z) and ab.p_value == pytest.approx(ba.p_value)
    assert np.isnan(delong_test(g.y, g.a, g.a).p_value)


@requires_r
def test_bootstrap_ci_is_reproducible_and_close_to_proc():
    d = asah()
    ref = run_r(PROC + 'set.seed(1); out("ci", ci.auc(roc1(d$y, d$s100b), method = "bootstrap", boot.n = 2000, '
                'boot.stratified = TRUE, progress = "none"))', d=d)
    ours = auc_ci(d.y, d.s100b, method="bootstrap", n_boot=2000, seed=3)
    assert ours == auc_ci(d.y, d.s100b, method="bootstrap", n_boot=2000, seed=3)
    assert ours.auc == auc_ci(d.y, d.s100b).auc  # pROC's middle value is the bootstrap median instead
    # different random streams: the percentile limits agree to Monte Carlo error (~0.01 at 2000 resamples)
    np.testing.assert_allclose([ours.low, ours.high], ref["ci"][[0, 2]], atol=0.015)


@requires_r
@pytest.mark.parametrize("marker", ["s100b", "wfns"])
def test_youden_cutoff_matches_proc(marker):
    d = asah()
    ref = run_r(PROC + 'b <- coords(roc1(d$y, d$s), x = "best", best.method = "youden", '
                'ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE); '
                'b <- b[order(b$threshold), ]; out("best", unlist(b[1, ])); out("n", nrow(b))',
                d=pd.DataFrame({"y": d.y, "s": d[marker]}))
    cut = youden_cutoff(d.y, d[marker])
    np.testing.assert_allclose([cut.cutoff, cut.sensitivity, cut.specificity], ref["best"], atol=1e-12)
    assert cut.youden_j == pytest.approx(ref["best"][1] + ref["best"][2] - 1)


@requires_r
def test_diagnostic_metrics_counts_and_exact_cis_match_binom_test():
    d = asah()
    cutoff = youden_cutoff(d.y, d.s100b).cutoff
    m = diagnostic_metrics(d.y, d.s100b, cutoff)
    pos = d.s100b >= cutoff
    assert (m.tp, m.fp, m.tn, m.fn) == (
        int((pos & (d.y == 1)).sum()), int((pos & (d.y == 0)).sum()),
        int((~pos & (d.y == 0)).sum()), int((~pos & (d.y == 1)).sum()))
    table = m.table()
    code = "".join(f'out("{k}", binom.test({int(r.successes)}, {int(r.total)})$conf.int); '
                   for k, r in table.iterrows())
    ref = run_r(code)
    for k, r in table.iterrows():
        np.testing.assert_allclose([r.low, r.high], ref[k], atol=1e-9)
        assert r.estimate == pytest.approx(r.successes / r.total)


def test_diagnostic_metrics_without_positive_calls_gives_nan_ppv():
    m = diagnostic_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], cutoff=0.9)
    assert m.tp == 0 and m.ppv.total == 0 and np.isnan(m.ppv.estimate)
    assert m.npv.estimate == pytest.approx(0.5) and m.sensitivity.high < 1


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([0, 1, 1], [0.1, 0.2], "lengths differ"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "only one class"),
        ([0, 2, 1], [0.1, 0.2, 0.3], "must be 0/1"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "missing"),
    ],
)
def test_bad_input_is_named(y, s, match):
    with pytest.raises(ValueError, match=match):
        auc_ci(y, s)
