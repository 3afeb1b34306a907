import numpy as np
import pandas as pd

from tests.stats.rref import requires_r, run_r


@requires_r
def test_r_reference_runner_round_trips_data():
    df = pd.DataFrame({"x": [1.5, 2.5, 4.0]})
    got = run_r('out("mean", mean(d$x)); out("x", d$x)', d=df)
    assert got["mean"][0] == np.mean(df.x)
    np.testing.assert_array_equal(got["x"], df.x.to_numpy())


@requires_r
def test_r_reference_runner_reads_na_and_inf_as_floats():
    got = run_r('out("v", c(NA, 1, Inf, -Inf, NaN))')
    assert np.isnan(got["v"][0]) and got["v"][1] == 1.0
    assert got["v"][2] == np.inf and got["v"][3] == -np.inf and np.isnan(got["v"][4])
