"""Where received and retrieved instances go on disk, written atomically."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from pydicom.dataset import Dataset

_UID = re.compile(r"^[0-9.]{1,64}$")


def _uid_part(value: object, what: str) -> str:
    text = str(value or "").strip()
    # UIDs become folder names: anything but digits and dots is replaced so a hostile value cannot
    # escape the output folder.
    if not text:
        return f"unknown-{what}"
    return text if _UID.match(text) else re.sub(r"[^0-9A-Za-z.]", "_", text)[:64]


def instance_path(root: Path, ds: Dataset) -> Path:
    """``root/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``."""
    return (Path(root) / _uid_part(ds.get("StudyInstanceUID"), "study")
            / _uid_part(ds.get("SeriesInstanceUID"), "series")
            / f"{_uid_part(ds.get('SOPInstanceUID'), 'instance')}.dcm")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_dataset(root: Path, ds: Dataset) -> Path:
    """Save a dataset (with its file meta) under :func:`instance_path`; returns the path."""
    from io import BytesIO

    path = instance_path(root, ds)
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    write_atomic(path, buf.getvalue())
    return path


def dicom_files(paths: list[Path] | tuple[Path, ...]) -> list[Path]:
    """Expand folders to the files under them (sorted); files are kept as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


def read_for_sending(path: Path, header_only: bool = False) -> Dataset:
    """Read a file to be sent to a PACS (``header_only``: without pixel data, to plan the sending);
    :class:`InputError` when it is not DICOM or lacks the UIDs a PACS needs."""
    import pydicom

    from hccrisk.errors import InputError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=header_only)
    except Exception as exc:  # pydicom raises several types for a non-DICOM file
        raise InputError(path, f"not a readable DICOM file ({exc})") from None
    for keyword in ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if keyword not in ds:
            raise InputError(path, f"has no {keyword}; a PACS cannot store it")
    if "TransferSyntaxUID" not in ds.file_meta:
        raise InputError(path, "has no file meta Transfer Syntax UID")
    return ds
