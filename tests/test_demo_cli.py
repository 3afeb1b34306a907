"""``hccrisk demo``: paper choice, one failing paper does not stop the others, the index links reports."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hccrisk.cli import app, _register
from hccrisk.cli.demo import _reproduce_all, _write_index


def test_unknown_paper_is_refused_before_any_work(tmp_path: Path) -> None:
    _register()
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--papers", "liu2025,nope"])
    assert result.exit_code == 2
    assert "nope" in result.output and "liu2025" in result.output
    assert not (tmp_path / "d").exists()


def test_a_failing_paper_is_recorded_and_the_next_runs(tmp_path: Path) -> None:
    # A cohort folder without the cohort tables: every paper fails with its own message, none stops the loop.
    empty = tmp_path / "cohort"
    empty.mkdir()
    runs = _reproduce_all(["liu2025", "zhao2024"], empty, tmp_path / "ingest", tmp_path, 0, 1, 4)
    assert [r["paper"] for r in runs] == ["liu2025", "zhao2024"]
    assert all(r["status"].startswith("failed") for r in runs)

    overview = tmp_path / "report" / "report.html"
    overview.parent.mkdir()
    overview.write_text("<html></html>")
    done = tmp_path / "liu2025" / "report.html"
    done.parent.mkdir()
    done.write_text("<html></html>")
    runs[0].update(status="done", report="liu2025/report.html")
    page = _write_index(tmp_path, overview, runs, seed=0).read_text()
    assert 'href="../report/report.html"' in page and 'href="../liu2025/report.html"' in page
    assert "failed" in page  # zhao2024's failure is on the page, with no link
    assert (tmp_path / "index" / "report.html").is_file()
