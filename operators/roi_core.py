"""SDK-free part of the CEUS ROI step (importable and testable without the MONAI Deploy SDK): the
radiologist's box SR of the study -> the tumour box on every 2 fps sample.

A box SR as the MONAI Label app stores it carries the (margined) box on EVERY stored frame of the cine
(docs/label.md): those boxes are used as they are on the samples the timeline took, nothing is tracked.
An SR with a box on one frame (``hccrisk roi track --sr``, a viewer's rectangle) is tracked over the cine
(``hccrisk.roi.tracking.track_box``); with boxes on some frames, each is a key frame and the samples
between them are tracked from the key frame before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom

from hccrisk.errors import InputError
from hccrisk.roi.io import observer_of
from hccrisk.roi.box import CeusBox, clip_box, stored_to_array, without_margin
from hccrisk.roi.cine import CeusCine
from hccrisk.roi.tracking import BoxTrack, track_box


@dataclass(frozen=True)
class SrRoi:
    """The tumour boxes of a study from its box SR.

    track: the un-margined tumour box per sample (``track.expanded(margin_mm)`` for the ROI);
    n_sr_boxes: boxes in the SR; n_keys: samples whose box came from the SR; n_tracked: samples whose
    box was found by tracking (0 for the MONAI Label app's per-frame SR).
    """

    track: BoxTrack
    n_sr_boxes: int
    n_keys: int
    n_tracked: int

    def describe(self) -> str:
        """One log line: where the boxes came from."""
        how = "used as stored, nothing tracked" if self.n_tracked == 0 else \
            f"tracked on {self.n_tracked} sample(s) ({self.track.source} image)"
        return f"{self.n_sr_boxes} box(es) in the SR, on {self.n_keys} sample(s) of the 2 fps timeline: {how}"


def key_boxes(cine: CeusCine, sr_boxes: Sequence[tuple[CeusBox, str]], margin_mm: float | None,
              where: str | Path) -> dict[int, CeusBox]:
    """The SR's boxes on the cine's samples: sample index -> tumour box (contrast-array pixels, the
    recorded margin taken off with ``without_margin``, frame = the sample).

    A box counts where its stored frame (clip SOP Instance UID, 0-based frame) is the one a valid sample
    was taken from. When none is (a box drawn on a frame the 2 fps timeline skipped), each box goes to
    the valid sample of its clip nearest in frame number. A box on the B-mode half of a dual display is
    moved to the contrast half (same place in the other region).

    Args:
        sr_boxes: ``hccrisk.roi.sr.read_box_sr`` output (stored-frame pixels).
        margin_mm: ``read_box_sr_margin`` output (None: the boxes are the tumour's).
        where: the SR file, named in errors.
    Raises:
        InputError: no box lies on the study's clips, or a box lies outside both regions.
    """
    by_frame: dict[tuple[str, int], CeusBox] = {(str(sop), int(b.frame)): b for b, sop in sr_boxes}
    valid = np.flatnonzero(cine.valid)
    placed: dict[int, CeusBox] = {}
    for i in valid:
        box = by_frame.get((str(cine.source_sop[i]), int(cine.source_frame[i])))
        if box is not None:
            placed[int(i)] = box
    if not placed:  # no box on a sampled frame: the nearest sample of each box's clip
        distance: dict[int, int] = {}
        for box, sop in sr_boxes:
            same = valid[cine.source_sop[valid] == str(sop)]
            if same.size == 0:
                continue
            gaps = np.abs(cine.source_frame[same].astype(int) - int(box.frame))
            j = int(same[np.argmin(gaps)])
            if j not in distance or int(gaps.min()) < distance[j]:
                placed[j], distance[j] = box, int(gaps.min())
    if not placed:
        raise InputError(where, "none of the SR's boxes lies on a frame of the study's CEUS clips")
    return {i: without_margin(replace(_to_contrast_array(box, cine, where), frame=i), margin_mm, cine.spacing_mm,
                              cine.shape) for i, box in sorted(placed.items())}


def _to_contrast_array(box: CeusBox, cine: CeusCine, where: str | Path) -> CeusBox:
    """A stored-frame box -> contrast-array pixels (from the B-mode region when it lies there)."""
    h, w = cine.shape
    for origin in (cine.region_origin, cine.bmode_region_origin):
        if origin is None:
            continue
        local = stored_to_array(box, origin)
        if local.x0 >= 0 and local.y0 >= 0 and local.x1 <= w and local.y1 <= h:
            return local
    try:
        return clip_box(stored_to_array(box, cine.region_origin), cine.shape)  # partly outside: the part inside
    except InputError:
        raise InputError(where, f"box {box.x0},{box.y0},{box.x1},{box.y1} (stored-frame pixels) lies outside the "
                                f"contrast region") from None


def roi_from_sr(cine: CeusCine, sr_boxes: Sequence[tuple[CeusBox, str]], margin_mm: float | None,
                where: str | Path) -> SrRoi:
    """The tumour box on every sample: the SR's boxes where it has them (``key_boxes``), tracked from
    the key frame before (the first: also backwards) elsewhere."""
    keys = key_boxes(cine, sr_boxes, margin_mm, where)
    first = min(keys)
    track = track_box(cine, keys[first], anchor_index=first,
                      corrections={i: b for i, b in keys.items() if i != first})
    n_tracked = int(np.sum(cine.valid & (track.keyframe != np.arange(len(track)))))
    return SrRoi(track, len(sr_boxes), len(keys), n_tracked)


def reading_order(roi_files: Sequence[str | Path]) -> list[Path]:
    """The study's ROI objects in the order the app tries them: observer1's reading (the primary one, by
    its SeriesDescription ``hccrisk observer1: ...``) first, then unmarked ones, then further observers'."""
    def rank(path: Path) -> tuple[int, str]:
        try:
            description = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesDescription"]).get(
                "SeriesDescription", "")
        except Exception:  # noqa: BLE001 - unreadable: tried last, and reading it names the problem
            return 3, str(path)
        observer = observer_of(str(description))
        return (1 if observer is None else 0 if observer == "observer1" else 2), str(path)

    return sorted((Path(p) for p in roi_files), key=rank)
