"""Infer task "mri_tumour": a 3D tumour VOI grown from the user's clicks (SimpleITK, no model)."""

from __future__ import annotations

import time
from typing import Any

import SimpleITK as sitk
from monailabel.interfaces.tasks.infer_v2 import InferTask, InferType

from hccrisk.errors import InputError
from lib.images import read_image, write_label
from lib.mri import MAX_RADIUS_MM, seeded_tumour


class MriTumourInfer(InferTask):
    """Request: ``image`` (one MR phase), ``foreground`` clicks [x, y, z] inside the tumour; param
    ``radius_mm`` (how far from a click the VOI may reach). Result: a label on the image's grid, 1 = tumour."""

    def __init__(self):
        super().__init__(type=InferType.DEEPGROW, labels={"tumour": 1}, dimension=3,
                         description="MRI: tumour VOI grown in 3D from clicks inside it",
                         config={"radius_mm": MAX_RADIUS_MM})

    def is_valid(self) -> bool:
        return True

    def __call__(self, request: dict[str, Any]):
        start = time.time()
        image = read_image(request["image"])
        if not request.get("foreground"):
            raise InputError(str(request["image"]), "mri_tumour needs at least one foreground click inside the tumour")
        radius = float(request.get("radius_mm", self._config["radius_mm"]))
        mask = seeded_tumour(image, request["foreground"], name=str(request["image"]), radius_mm=radius)
        path = write_label(sitk.GetArrayFromImage(mask), image, request)
        return path, {"voxels": int(sitk.GetArrayViewFromImage(mask).sum()), "radius_mm": radius,
                      "latency_s": round(time.time() - start, 3)}
