"""Suite-wide: warn at the start when the temporary folder's disk is too full for a run.

A disk that fills mid-run fails dozens of unrelated tests with ``OSError: [Errno 28]`` (the R comparisons,
the fixtures' ``mktemp``), which hides the one cause; the warning names it first.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest

#: Peak of a full run's own files under the temporary folder, rounded up: 5.2 GB measured (sampled every
#: 10 s) in a clean-clone CI run on 2026-11-25, while liu2025's 300-patient CEUS cohort is made.
PEAK_GB = 6


def pytest_sessionstart(session: pytest.Session) -> None:
    folder = tempfile.gettempdir()
    free_gb = shutil.disk_usage(folder).free / 1e9
    if free_gb < PEAK_GB:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (f"only {free_gb:.1f} GB free under {folder}: a full run writes up to ~{PEAK_GB} GB there at "
                   f"its peak, so tests may fail with 'No space left on device' (set TMPDIR to a roomier disk)")
        if reporter is not None:
            reporter.write_line(f"WARNING: {message}", yellow=True, bold=True)
