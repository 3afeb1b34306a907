"""The ingested CEUS cine (``<patient>/ceus.npz``, docs/architecture.md) as one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hccrisk.errors import InputError

_REQUIRED = ("contrast", "times", "valid", "source_sop", "source_frame", "spacing_mm", "region_origin")


@dataclass(frozen=True)
class CeusCine:
    """One patient's 2 fps CEUS timeline.

    contrast: (T, H, W) uint8 contrast-mode region; bmode: (T, H, W) uint8 B-mode region of a dual
    display, else None; times: (T,) s from injection; valid: (T,) bool (False in gaps between clips);
    source_sop / source_frame: (T,) the stored frame each sample came from; spacing_mm: (2,) (row, col);
    region_origin / bmode_region_origin: (2,) (column, row) of the region in the stored frame.
    """

    contrast: np.ndarray
    times: np.ndarray
    valid: np.ndarray
    source_sop: np.ndarray
    source_frame: np.ndarray
    spacing_mm: np.ndarray
    region_origin: np.ndarray
    bmode: np.ndarray | None = None
    bmode_region_origin: np.ndarray | None = None
    path: str = "<array>"

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the contrast region."""
        return int(self.contrast.shape[1]), int(self.contrast.shape[2])

    def sample_at(self, time_s: float) -> int:
        """Index of the valid sample nearest ``time_s`` (s from injection)."""
        idx = np.flatnonzero(self.valid)
        if idx.size == 0:
            raise InputError(self.path, "no valid CEUS sample")
        return int(idx[np.argmin(np.abs(self.times[idx] - time_s))])


def load_cine(path: str | Path) -> CeusCine:
    """Read ``ceus.npz`` (or the patient folder holding it); InputError naming the file when unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / "ceus.npz"
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the ingested CEUS cine: {exc}") from None
    with z:
        missing = [k for k in _REQUIRED if k not in z.files]
        if missing:
            raise InputError(path, f"not an ingested CEUS cine: missing arrays {missing}")
        arrays = {k: z[k] for k in z.files}
    contrast = arrays["contrast"]
    if contrast.ndim != 3 or len(arrays["times"]) != len(contrast):
        raise InputError(path, f"contrast must be (T, H, W) with T = len(times); got {contrast.shape} and "
                               f"{len(arrays['times'])} times")
    return CeusCine(contrast=contrast, times=arrays["times"], valid=arrays["valid"].astype(bool),
                    source_sop=arrays["source_sop"], source_frame=arrays["source_frame"],
                    spacing_mm=arrays["spacing_mm"].astype(float), region_origin=arrays["region_origin"],
                    bmode=arrays.get("bmode"), bmode_region_origin=arrays.get("bmode_region_origin"),
                    path=str(path))
