"""Infer task "whole_liver": the small UNet of lib/configs/whole_liver.py, trained by the app's train task."""

from __future__ import annotations

import os

from monai.inferers import SlidingWindowInferer
from monai.transforms import Activationsd, AsDiscreted, EnsureTyped, SqueezeDimd
from monailabel.interfaces.tasks.infer_v2 import InferType
from monailabel.tasks.infer.basic_infer import BasicInferTask

from hccrisk.errors import InputError
from lib.configs import whole_liver as cfg


class WholeLiverInfer(BasicInferTask):
    """Request: ``image`` (one MR phase). Result: label on the image's own grid, 1 = liver."""

    def __init__(self, path: str):
        super().__init__(path=path, network=cfg.network(), type=InferType.SEGMENTATION, labels=cfg.LABELS,
                         dimension=3, description="MRI: whole-liver segmentation (small 3D UNet)",
                         load_strict=False)

    def __call__(self, request, *args, **kwargs):
        # BasicInferTask would run the untrained network and return noise as if it were a liver
        weights = self.get_path(validate=False)
        if not weights or not os.path.exists(weights):
            raise InputError(str(weights), "no trained whole-liver weights yet: save liver labels and run the "
                                           "whole_liver train task first")
        return super().__call__(request, *args, **kwargs)

    def pre_transforms(self, data=None):
        # no resampling: the label comes out on the image's grid without a restoring step
        # (monailabel.transform.post.Restored imports torchvision, which .venv-label does not have)
        return cfg.load_transforms(("image",))

    def inferer(self, data=None):
        return SlidingWindowInferer(roi_size=cfg.ROI_SIZE, sw_batch_size=2, overlap=0.25)

    def post_transforms(self, data=None):
        return [EnsureTyped(keys="pred", device="cpu"), Activationsd(keys="pred", softmax=True),
                AsDiscreted(keys="pred", argmax=True), SqueezeDimd(keys="pred", dim=0)]
