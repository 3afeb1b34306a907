"""Run R as the reference implementation in tests.

``run_r(code, **frames)`` writes each DataFrame to CSV (available in R under its keyword name), runs
``Rscript``, and parses every line ``OUT name v1,v2,...`` printed by the R helper ``out(name, x)`` into a
dict of float arrays. R is a test-time reference only, never a runtime dependency.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

RSCRIPT = shutil.which("Rscript")
requires_r = pytest.mark.skipif(RSCRIPT is None, reason="Rscript not installed (scripts/setup.sh installs it)")

_PRELUDE = r"""
suppressPackageStartupMessages({ options(warn = 1) })
out <- function(name, x) cat("OUT", name, paste(formatC(as.numeric(x), digits = 17, format = "g"), collapse = ","), "\n")
"""


def _number(text: str) -> float:
    """R's printed number; NA / NaN / Inf as float."""
    text = text.strip()
    return float("nan") if text in ("NA", "NaN") else float(text)


def run_r(code: str, **frames: pd.DataFrame) -> dict[str, np.ndarray]:
    """Run R ``code`` with ``frames`` loaded as data.frames; return the ``out()`` values."""
    if RSCRIPT is None:
        pytest.skip("Rscript not installed")
    with tempfile.TemporaryDirectory() as tmp:
        loads = []
        for name, df in frames.items():
            path = Path(tmp) / f"{name}.csv"
            df.to_csv(path, index=False)
            loads.append(f'{name} <- read.csv("{path}", stringsAsFactors = FALSE)')
        script = Path(tmp) / "ref.R"
        script.write_text(_PRELUDE + "\n".join(loads) + "\n" + code)
        proc = subprocess.run([RSCRIPT, "--vanilla", str(script)], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"R failed:\n{proc.stderr}\n{proc.stdout}")
    result: dict[str, np.ndarray] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("OUT "):
            _, name, values = line.split(" ", 2)
            result[name] = np.array([_number(v) for v in values.strip().split(",") if v], dtype=float)
    return result
