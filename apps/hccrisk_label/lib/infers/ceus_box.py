"""Infer task "ceus_box": the tumour box drawn on one frame, enlarged by the margin and tracked over the cine."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import SimpleITK as sitk
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from lib.ceus import ALLOWED_MARGINS_MM, box_from_clicks, box_from_label, cine_from_frames, propagate_box
from lib.images import read_image, us_spacing_mm, write_label

logger = logging.getLogger(__name__)


class CeusBoxInfer(InferTask):
    """Request: ``image`` (the CEUS cine), ``foreground`` clicks [x, y, frame] on one frame (2 = corners,
    more = outline) or ``label`` (a mask painted on one frame); params ``margin_mm`` (5 or 10, default 5).
    Result: a label the cine's size, 1 inside the margin-enlarged tracked box on every frame; the JSON
    holds the per-frame boxes (x0, y0, x1, y1, contrast pixels, un-margined) and the tracking source.
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
        frames = sitk.GetArrayFromImage(image)  # (T, H, W) or (T, H, W, 3)
        if frames.ndim == 2:
            frames = frames[None]
        sx, sy = image.GetSpacing()[:2]
        spacing = us_spacing_mm(request["image"], fallback=(sy, sx))
        cine = cine_from_frames(frames, spacing, fps=self.fps, name=str(request["image"]))
        if request.get("foreground"):
            box = box_from_clicks(request["foreground"], len(cine.times))
        elif request.get("label"):
            box = box_from_label(sitk.GetArrayFromImage(read_image(request["label"])), name=str(request["label"]))
        else:
            from hccrisk.errors import InputError
            raise InputError(str(request["image"]), "ceus_box needs foreground clicks or a label on one frame")
        margin = float(request.get("margin_mm", self._config["margin_mm"]))
        track, mask = propagate_box(cine, box, margin)
        reference = image if image.GetNumberOfComponentsPerPixel() == 1 else sitk.VectorIndexSelectionCast(image, 0)
        if reference.GetDimension() == 2:
            reference = sitk.JoinSeries(reference)
        path = write_label(mask, reference)
        logger.info("ceus_box: %d frames, margin %.0f mm, source %s, %.2f s", len(mask), margin, track.source,
                    time.time() - start)
        return path, {"margin_mm": margin, "allowed_margins_mm": list(ALLOWED_MARGINS_MM), "anchor_frame": box.frame,
                      "tracking_source": track.source, "boxes": np.asarray(track.boxes).tolist(),
                      "spacing_mm": list(spacing), "latency_s": round(time.time() - start, 3)}
