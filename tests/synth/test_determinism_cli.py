"""Same seed -> same bytes (whatever the number of workers); the CLI refuses bad input clearly."""

from __future__ import annotations

import hashlib

import pytest
from typer.testing import CliRunner

from hccrisk.cli import _register, app
from hccrisk.errors import InputError
from hccrisk.synth.cohort import generate_cohort
from tests.synth.conftest import N_PATIENTS, SEED


def _hashes(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_with_parallel_workers(ceus_cohort, tmp_path):
    again = tmp_path / "again"
    generate_cohort(again, N_PATIENTS, SEED, modality="ceus", workers=2, progress=False)
    assert _hashes(again) == _hashes(ceus_cohort)


def test_other_seed_other_cohort(ceus_cohort, tmp_path):
    other = tmp_path / "other"
    generate_cohort(other, 1, SEED + 1, modality="ceus", workers=1, progress=False)
    assert (other / "clinical.csv").read_bytes() != (ceus_cohort / "clinical.csv").read_bytes()
    assert not set(_hashes(other).values()) & set(_hashes(ceus_cohort).values())


def test_refuses_non_empty_output_and_bad_options(ceus_cohort, tmp_path):
    with pytest.raises(InputError, match="not an empty folder"):
        generate_cohort(ceus_cohort, 1, 0, modality="ceus", progress=False)
    with pytest.raises(InputError, match="modality"):
        generate_cohort(tmp_path / "x", 1, 0, modality="ct", progress=False)


def test_cli_writes_a_cohort_and_reports_errors(tmp_path):
    _register()
    runner = CliRunner()
    ok = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), "--patients", "1", "--modality", "ceus",
                             "--workers", "1"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "c" / "cohort.json").exists() and "1 patients" in ok.output
    bad = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), "--patients", "1"])
    assert bad.exit_code == 2 and "not an empty folder" in bad.output


def test_cli_default_size_is_the_documented_one():
    from hccrisk.cli import synth as cli_synth
    from hccrisk.synth import cohort

    assert cli_synth.DEFAULT_PATIENTS == cohort.DEFAULT_PATIENTS == 120
