import numpy as np
import pandas as pd

from tests.stats.rref import requires_r, run_r


@requires_r
def test_r_reference_runner_round_trips_data():
    df = pd.DataFrame({"x": [1.5, 2.5, 4.0]})
    got = run_r('out("mean", mean(d$x)); out("x", d$x)', d=df)
    assert got["mean"][0] == np.mean(df.x)
    np.testing.assert_array_equal(got["x"], df.x.to_numpy())
