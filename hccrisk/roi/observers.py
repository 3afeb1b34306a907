"""Observers' CEUS ROIs as the synthetic generator writes them (``rois/observer1|2/<patient_id>/``),
mapped onto the ingested 2 fps cine; the MRI masks are read with ``hccrisk.roi.mri``.

observer1 holds the truth per stored frame (``ceus_tumour.csv``); observer2 one drawn rectangle
(``ceus_box.csv``: ``time_s, x0, y0, x1, y1``). Both are in stored-frame pixels; here they become
contrast-array pixels through the cine's ``region_origin`` (the ICC analysis loads both the same way).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox, stored_to_array
from hccrisk.roi.cine import CeusCine


def observer_dir(cohort_dir: str | Path, patient_id: str, observer: int = 1) -> Path:
    """``cohort_dir/rois/observer<observer>/<patient_id>``; InputError when absent."""
    path = Path(cohort_dir) / "rois" / f"observer{observer}" / patient_id
    if not path.is_dir():
        raise InputError(path, f"no ROIs of observer {observer} for this patient")
    return path


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict]:
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc}") from None
    if not rows or any(c not in rows[0] for c in columns):
        raise InputError(path, f"expected columns {list(columns)} and at least one row")
    return rows


def truth_boxes(roi_dir: str | Path, cine: CeusCine) -> np.ndarray:
    """The ground-truth tumour box on every 2 fps sample (from ``ceus_tumour.csv``).

    Returns:
        (T, 4) float x0, y0, x1, y1 in contrast-array pixels; NaN on samples without a stored frame.
    Raises:
        InputError: the CSV is missing a frame the cine took.
    """
    path = Path(roi_dir) / "ceus_tumour.csv"
    rows = _read_csv(path, ("sop_instance_uid", "frame", "x0", "y0", "x1", "y1"))
    table = {(r["sop_instance_uid"], int(r["frame"])): [float(r[k]) for k in ("x0", "y0", "x1", "y1")]
             for r in rows}
    ox, oy = (float(v) for v in cine.region_origin)
    out = np.full((len(cine.times), 4), np.nan)
    for i in np.flatnonzero(cine.valid):
        key = (str(cine.source_sop[i]), int(cine.source_frame[i]))
        if key not in table:
            raise InputError(path, f"no row for stored frame {key[1]} of SOP {key[0]} (sample {i})")
        out[i] = np.array(table[key]) - [ox, oy, ox, oy]
    return out


def observer_box(roi_dir: str | Path, cine: CeusCine) -> CeusBox:
    """An observer's drawn rectangle (``ceus_box.csv``) on the valid sample nearest its ``time_s``."""
    path = Path(roi_dir) / "ceus_box.csv"
    row = _read_csv(path, ("time_s", "x0", "y0", "x1", "y1"))[0]
    frame = cine.sample_at(float(row["time_s"]))
    box = CeusBox(*(int(round(float(row[k]))) for k in ("x0", "y0", "x1", "y1")), frame=frame)
    return stored_to_array(box, cine.region_origin)
