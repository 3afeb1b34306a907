"""Train task "whole_liver": the UNet on the datastore's final labels (MONAI Label's active-learning loop)."""

from __future__ import annotations

import logging
import os

import torch
from monai.inferers import SlidingWindowInferer
from monai.losses import DiceCELoss
from monai.transforms import Activationsd, AsDiscreted, EnsureTyped, RandCropByPosNegLabeld, SelectItemsd
from monailabel.tasks.train.basic_train import BasicTrainTask, Context

from hccrisk.errors import InputError
from lib.configs import whole_liver as cfg

logger = logging.getLogger(__name__)
LIVER = "liver"  #: the segment name a liver label is saved under (label_info[i].name)


class WholeLiverTrain(BasicTrainTask):
    def __init__(self, model_dir: str, load_path: str | None = None, **kwargs):
        super().__init__(model_dir, description="Train the whole-liver UNet on the saved liver labels",
                         load_path=load_path, labels=cfg.LABELS, amp=False, **kwargs)

    def pre_process(self, request, datastore):
        """The final labels that are liver labels: one image has one final label, and a tumour VOI saved
        for another image must not be learnt as liver (the segment name comes from the saved label_info)."""
        keep = []
        for item in datastore.datalist():
            image_id = os.path.basename(item["image"]).removesuffix(".nii.gz")
            info = datastore.get_label_info(image_id, "final") or {}
            names = {str(s.get("name", "")).lower() for s in info.get("label_info") or []}
            logger.info("whole_liver datalist: %s label names %s", image_id, sorted(names) or "none")
            if LIVER in names:
                keep.append(item)
        if not keep:
            raise InputError("datastore", "no final label named 'liver' to train the whole-liver model on")
        return keep

    def network(self, context: Context):
        return cfg.network()

    def optimizer(self, context: Context):
        return torch.optim.Adam(context.network.parameters(), lr=1e-3)

    def loss_function(self, context: Context):
        return DiceCELoss(to_onehot_y=True, softmax=True)

    def train_pre_transforms(self, context: Context):
        return cfg.load_transforms(("image", "label")) + [
            RandCropByPosNegLabeld(keys=("image", "label"), label_key="label", spatial_size=cfg.ROI_SIZE,
                                   pos=1, neg=1, num_samples=2, allow_smaller=True),
            EnsureTyped(keys=("image", "label")), SelectItemsd(keys=("image", "label"))]

    def train_post_transforms(self, context: Context):
        return [Activationsd(keys="pred", softmax=True),
                AsDiscreted(keys=("pred", "label"), argmax=(True, False), to_onehot=(len(cfg.LABELS) + 1,) * 2)]

    def val_pre_transforms(self, context: Context):
        return cfg.load_transforms(("image", "label")) + [EnsureTyped(keys=("image", "label")),
                                                           SelectItemsd(keys=("image", "label"))]

    def val_inferer(self, context: Context):
        return SlidingWindowInferer(roi_size=cfg.ROI_SIZE, sw_batch_size=2, overlap=0.25)
