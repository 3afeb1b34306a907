"""Infer task "ceus_box": the tumour box drawn on one frame, enlarged by the margin and tracked over the cine."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import SimpleITK as sitk
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from hccrisk.errors import InputError
from hccrisk.roi.cine_volume import cine_frame_index
from lib.ceus import (ALLOWED_MARGINS_MM, box_from_clicks, box_from_label, cine_from_frames, cine_from_stored_frames,
                      clicks_to_region, corrections_from_params, paint_stored, propagate_box)
from lib.cine_volumes import volume_sources
from lib.images import read_image, us_clips, us_geometry, write_label

logger = logging.getLogger(__name__)


class CeusBoxInfer(InferTask):
    """Request: ``image`` (the CEUS cine), ``foreground`` clicks [x, y, frame] on one frame (2 = corners,
    more = outline) or ``label`` (a mask painted on one frame); params ``margin_mm`` (5 or 10, default 5)
    and ``corrections`` ([[x0, y0, x1, y1, frame], ...] stored-frame pixels: re-run from corrected frames).
    Clicks are on the stored frame (either half of a dual display). On a CEUS cine volume (what OHIF's panel
    sends; ``cine_image`` = its source cine, set by the app) frame numbers are the volume's, tracking runs on
    the cine, and the label is the volume's frames of it (``volume_frames``: the cine frame of each). Result: a label the cine's size, 1 inside
    the margin-enlarged tracked box on every frame (in both halves of a dual display); the JSON holds the
    per-frame boxes (``boxes``: x0, y0, x1, y1, contrast-region pixels, un-margined; ``roi_boxes``: the same
    with the margin, as painted; add region_origin for the stored frame) and the tracking source.
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
        volume = None
        if request.get("cine_image"):  # a CEUS cine volume (lib/cine_volumes.py): track on its source cine
            volume = read_image(request["image"])
            index = self._volume_index(request)

            def to_cine(k: float, what: str) -> int:
                if not 0 <= round(k) < len(index):
                    raise InputError(what, f"frame {k} is outside the cine volume (0..{len(index) - 1})")
                return int(index[round(k)])

            request = {**request, "image": request["cine_image"],
                       "foreground": [[*p[:2], to_cine(p[2] if len(p) == 3 else -1, "foreground")]
                                      for p in request.get("foreground") or []],
                       "corrections": [[*c[:4], to_cine(c[4], "corrections")] for c in request.get("corrections") or []]}
        image = read_image(request["image"])
        frames = sitk.GetArrayFromImage(image)  # (T, rows, columns) or (T, rows, columns, 3)
        frames = frames[None] if frames.ndim == 2 else frames[..., :3].mean(axis=-1) if frames.ndim == 4 else frames
        cine, contrast, bmode = self._cine(request, image, frames)
        box = self._anchor(request, cine, contrast, bmode)
        margin = float(request.get("margin_mm", self._config["margin_mm"]))
        corrections = corrections_from_params(request.get("corrections") or [], len(cine.times), contrast, bmode)
        track, mask = propagate_box(cine, box, margin, corrections)
        if contrast is not None:
            mask = paint_stored(mask, frames.shape[1:], [contrast, bmode])
        reference = image if image.GetNumberOfComponentsPerPixel() == 1 else sitk.VectorIndexSelectionCast(image, 0)
        if reference.GetDimension() == 2:
            reference = sitk.JoinSeries(reference)
        if volume is not None:  # the volume's frames of the cine's label, on the volume's grid
            mask, reference = mask[index], volume
        path = write_label(mask, reference, request)
        latency = round(time.time() - start, 3)
        logger.info("ceus_box: %d frames, margin %.0f mm, source %s, %.2f s", len(mask), margin, track.source, latency)
        return path, {"margin_mm": margin, "allowed_margins_mm": list(ALLOWED_MARGINS_MM), "anchor_frame": box.frame,
                      "region_origin": [0, 0] if contrast is None else [contrast.x0, contrast.y0],
                      "tracking_source": track.source, "boxes": np.asarray(track.boxes).tolist(),
                      "roi_boxes": np.asarray(track.expanded(margin)).tolist(),
                      "spacing_mm": [float(v) for v in cine.spacing_mm], "latency_s": latency,
                      **({} if volume is None else {"volume_frames": index.tolist()})}

    @staticmethod
    def _volume_index(request: dict[str, Any]) -> np.ndarray:
        """(K,) the cine frame of each frame of the requested cine volume."""
        sources = volume_sources(request["image"])
        if sources is None:
            raise InputError(str(request["image"]), "cine_image given, but the image is not a CEUS cine volume")
        clips = us_clips(str(request["cine_image"]).removesuffix(".nii.gz"))
        geometry = us_geometry(request["cine_image"])
        if geometry is None:
            raise InputError(str(request["cine_image"]), "the cine volume's source is not a US cine")
        return cine_frame_index(sources, [str(ds.SOPInstanceUID) for _, ds in clips], geometry[2])

    def _cine(self, request: dict[str, Any], image: sitk.Image, frames: np.ndarray):
        """The cine to track on, its contrast region and B-mode region (None, None for a plain image)."""
        name = str(request["image"])
        geometry = us_geometry(request["image"])
        if geometry is not None:  # a DICOM US cine: track inside its contrast region (B-mode half when dual)
            regions, times, clip_starts = geometry
            if len(times) != len(frames):
                raise InputError(name, f"{len(frames)} frames in the image but {len(times)} in its DICOM clips")
            return cine_from_stored_frames(frames, regions, times, name=name, clip_starts=clip_starts)
        sx, sy = image.GetSpacing()[:2]  # a plain image: the whole frame, its pixel size, self.fps
        return cine_from_frames(frames, (sy, sx), fps=self.fps, name=name), None, None

    @staticmethod
    def _anchor(request: dict[str, Any], cine, contrast, bmode):
        """The user's box (contrast-region pixels) from the foreground clicks or the painted label."""
        if request.get("foreground"):
            clicks = request["foreground"]
            return box_from_clicks(clicks if contrast is None else clicks_to_region(clicks, contrast, bmode),
                                   len(cine.times))
        if request.get("label"):
            drawn = sitk.GetArrayFromImage(read_image(request["label"]))
            if contrast is not None:
                drawn = drawn[:, contrast.y0:contrast.y0 + contrast.height, contrast.x0:contrast.x0 + contrast.width]
            return box_from_label(drawn, name=str(request["label"]))
        raise InputError(str(request["image"]), "ceus_box needs foreground clicks or a label on one frame")
