"""Infer task "ceus_box": the tumour box drawn on one frame, enlarged by the margin and tracked over the cine."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import SimpleITK as sitk
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from hccrisk.errors import InputError
from lib.ceus import (ALLOWED_MARGINS_MM, box_from_clicks, box_from_label, cine_from_frames, cine_from_stored_frames,
                      clicks_to_region, corrections_from_params, paint_stored, propagate_box)
from lib.images import read_image, us_geometry, write_label

logger = logging.getLogger(__name__)


class CeusBoxInfer(InferTask):
    """Request: ``image`` (the CEUS cine), ``foreground`` clicks [x, y, frame] on one frame (2 = corners,
    more = outline) or ``label`` (a mask painted on one frame); params ``margin_mm`` (5 or 10, default 5)
    and ``corrections`` ([[x0, y0, x1, y1, frame], ...] stored-frame pixels: re-run from corrected frames).
    Clicks are on the stored frame (either half of a dual display). Result: a label the cine's size, 1 inside
    the margin-enlarged tracked box on every frame (in both halves of a dual display); the JSON holds the
    per-frame boxes (x0, y0, x1, y1: contrast-region pixels, un-margined; add region_origin for the stored
    frame) and the tracking source.
    """

    def __init__(self, fps: float = 2.0):
        super().__init__(type=InferType.DEEPGROW, labels={"tumour_box": 1}, dimension=3,
                         description="CEUS: tumour box on one frame -> margin-enlarged box tracked over the cine",
                         config={"margin_mm": 5.0})
        self.fps = fps

    def is_valid(self) -> bool:
        return True

    def __call__(self, request: dict[str, Any]):
        start = time.time()
        image = read_image(request["image"])
        frames = sitk.GetArrayFromImage(image)  # (T, rows, columns) or (T, rows, columns, 3)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim == 4:
            frames = frames[..., :3].mean(axis=-1)
        geometry = us_geometry(request["image"])
        name = str(request["image"])
        if geometry is not None:  # a DICOM US cine: track inside its contrast region (B-mode half when dual)
            cine, contrast, bmode = cine_from_stored_frames(frames, geometry[0], geometry[1], name=name)
        else:  # a plain image: the whole frame, pixel size from the image, 2 fps
            sx, sy = image.GetSpacing()[:2]
            cine, contrast, bmode = cine_from_frames(frames, (sy, sx), fps=self.fps, name=name), None, None
        if request.get("foreground"):
            clicks = request["foreground"] if contrast is None else clicks_to_region(request["foreground"], contrast, bmode)
            box = box_from_clicks(clicks, len(cine.times))
        elif request.get("label"):
            drawn = sitk.GetArrayFromImage(read_image(request["label"]))
            if contrast is not None:
                drawn = drawn[:, contrast.y0:contrast.y0 + contrast.height, contrast.x0:contrast.x0 + contrast.width]
            box = box_from_label(drawn, name=str(request["label"]))
        else:
            raise InputError(name, "ceus_box needs foreground clicks or a label on one frame")
        margin = float(request.get("margin_mm", self._config["margin_mm"]))
        corrections = corrections_from_params(request.get("corrections") or [], len(cine.times), contrast, bmode)
        track, mask = propagate_box(cine, box, margin, corrections)
        if contrast is not None:
            mask = paint_stored(mask, frames.shape[1:], [contrast, bmode])
        reference = image if image.GetNumberOfComponentsPerPixel() == 1 else sitk.VectorIndexSelectionCast(image, 0)
        if reference.GetDimension() == 2:
            reference = sitk.JoinSeries(reference)
        path = write_label(mask, reference)
        logger.info("ceus_box: %d frames, margin %.0f mm, source %s, %.2f s", len(mask), margin, track.source,
                    time.time() - start)
        origin = [0, 0] if contrast is None else [contrast.x0, contrast.y0]
        return path, {"margin_mm": margin, "region_origin": origin, "allowed_margins_mm": list(ALLOWED_MARGINS_MM), "anchor_frame": box.frame,
                      "tracking_source": track.source, "boxes": np.asarray(track.boxes).tolist(),
                      "spacing_mm": [float(v) for v in cine.spacing_mm], "latency_s": round(time.time() - start, 3)}
