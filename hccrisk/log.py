"""Logging that never writes a patient identifier in clear."""

from __future__ import annotations

import hashlib
import logging

_SALT = "hccrisk"
QUIET_LIBRARIES = ("highdicom", "pydicom", "radiomics", "pynetdicom", "dicomweb_client", "matplotlib", "PIL")


def pseudonym(patient_id: str) -> str:
    """A stable 8-character pseudonym for log lines (the same ID always gives the same pseudonym)."""
    digest = hashlib.sha256(f"{_SALT}:{patient_id}".encode()).hexdigest()
    return f"pt-{digest[:8]}"


def get_logger(name: str) -> logging.Logger:
    """A module logger under the ``hccrisk`` hierarchy."""
    return logging.getLogger(name if name.startswith("hccrisk") else f"hccrisk.{name}")


def configure(verbose: bool = False) -> None:
    """Console logging for the CLI."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Libraries that narrate every object they build at INFO: keep the console for our own progress.
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
