"""Errors that name the problem: every bad input ends in one of these, never a bare traceback."""

from __future__ import annotations

from pathlib import Path


class HccriskError(Exception):
    """Base class of hccrisk's own errors."""


class InputError(HccriskError):
    """A bad input: names the file (or series, patient) and what is wrong with it."""

    def __init__(self, where: str | Path, problem: str):
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")


class MissingDataError(InputError):
    """Something the analysis needs is absent (a phase, a clinical value, frame timing)."""
