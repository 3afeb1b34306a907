"""``hccrisk train ceus``: bad input gives a clear error naming the problem, never a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from hccrisk.cli import _register, app

_register()


def test_crop_must_be_a_multiple_of_16(tmp_path):
    res = CliRunner().invoke(app, ["train", "ceus", "--ingest", str(tmp_path), "--cohort", str(tmp_path),
                                   "--out", str(tmp_path / "m"), "--crop", "40"])
    assert res.exit_code == 2
    assert "--crop 40 is not a multiple of 16" in res.output


def test_missing_outcomes_names_the_file(tmp_path):
    res = CliRunner().invoke(app, ["train", "ceus", "--ingest", str(tmp_path), "--cohort", str(tmp_path),
                                   "--out", str(tmp_path / "m")])
    assert res.exit_code == 2
    assert "outcomes.csv" in res.output and "no outcomes.csv" in res.output
