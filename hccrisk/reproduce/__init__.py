"""One-command reproductions of the source papers (``hccrisk reproduce PAPER``; docs/reproduce.md).

Each paper is a module with ``run(cohort_dir, out_dir, ingest_dir=None, seed=0, workers=None) -> Path``
(the report.html it wrote) and ``analyse(...)`` (the numbers, without I/O, for tests).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from hccrisk.errors import InputError

#: Paper key -> module implementing it.
PAPERS = {"zhao2024": "hccrisk.reproduce.zhao2024", "liu2025": "hccrisk.reproduce.liu2025",
          "liu2020": "hccrisk.reproduce.liu2020", "huang2022": "hccrisk.reproduce.huang2022",
          "chen2025": "hccrisk.reproduce.chen2025"}


def runner(paper: str) -> Callable[..., Path]:
    """The ``run`` function of ``paper``; InputError naming the known papers otherwise."""
    if paper not in PAPERS:
        raise InputError("PAPER", f"unknown paper {paper!r}; known: {', '.join(sorted(PAPERS))}")
    return importlib.import_module(PAPERS[paper]).run
