"""Pyradiomics parameter files: where they live, how they are named, what they ask for.

The files kept in the repository (``hccrisk/radiomics/params/*.yaml``) are addressed by their stem
(``"zhao2024_mri"``); any other path to a pyradiomics YAML file works as well.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

from hccrisk.errors import InputError

PARAMS_DIR = Path(__file__).parent / "params"


def available_params() -> list[str]:
    """Stems of the parameter files kept in the repository, sorted."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def resolve_params(params: str | Path) -> Path:
    """The path of a parameter file given as a repository stem (``"chen2025_mri"``) or as a path.

    Raises InputError when neither exists.
    """
    path = Path(params)
    if path.is_file():
        return path.resolve()
    stem = PARAMS_DIR / f"{params}.yaml"
    if isinstance(params, str) and stem.is_file():
        return stem
    raise InputError(params, f"no such pyradiomics parameter file (repository files: {', '.join(available_params())})")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (streamed; images of hundreds of MB are fine)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _load(path: Path, sha: str) -> dict[str, Any]:
    # keyed on the content hash so an edited file is re-read
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML: {exc}") from None
    if not isinstance(content, dict):
        raise InputError(path, "a pyradiomics parameter file must be a mapping (imageType, featureClass, setting)")
    return content


def load_params(params: str | Path) -> dict[str, Any]:
    """The parsed parameter file (a dict with ``imageType``, ``featureClass``, ``setting``); do not mutate it."""
    path = resolve_params(params)
    return _load(path, file_sha256(path))


def is_2d(content: dict[str, Any]) -> bool:
    """True for a 2D parameter file: it asks for ``shape2D`` and not for the 3D ``shape`` class."""
    classes = content.get("featureClass") or {}
    return "shape2D" in classes and "shape" not in classes
