"""The hccrisk MONAI Label app: CEUS box tracking, seeded MRI tumour VOIs and a whole-liver model, thin
over ``hccrisk.roi``. Start it from .venv-label (docs/label.md):

    monailabel start_server --app apps/hccrisk_label --studies http://127.0.0.1:8042/dicom-web \
        --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from monailabel.interfaces.app import MONAILabelApp
from monailabel.interfaces.tasks.infer_v2 import InferTask
from monailabel.interfaces.tasks.train import TrainTask

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `lib` importable however the server loads us
from lib.cine_volumes import publish_cine_volumes, volume_sources  # noqa: E402
from lib.configs import whole_liver as liver_cfg  # noqa: E402
from lib.datastore import ObserverDICOMWebDatastore  # noqa: E402
from lib.infers import CeusBoxInfer, MriTumourInfer, WholeLiverInfer  # noqa: E402
from lib.trainers import WholeLiverTrain  # noqa: E402

logger = logging.getLogger(__name__)


class MyApp(MONAILabelApp):
    def __init__(self, app_dir: str, studies: str, conf: dict[str, str]):
        # trained weights: conf model_dir, else HCCRISK_LABEL_MODEL_DIR, else <app>/model (not tracked by git)
        self.model_dir = conf.get("model_dir") or os.environ.get("HCCRISK_LABEL_MODEL_DIR") or \
            os.path.join(app_dir, "model")
        os.makedirs(self.model_dir, exist_ok=True)
        import hccrisk
        super().__init__(app_dir=app_dir, studies=studies, conf=conf, name="hccrisk",
                         description="hccrisk ROIs: CEUS tumour box tracked over the cine, MRI tumour VOI, whole liver",
                         version=hccrisk.__version__, labels=["tumour", "liver"])  # a list: OHIF's panel appends to it
        # CEUS cines as pseudo-volumes in the PACS, for OHIF's MONAI Label mode (lib/cine_volumes.py); in the
        # background: the server answers meanwhile
        client = getattr(self._datastore, "_client", None)
        if client is not None and str(conf.get("cine_volumes", "true")).lower() == "true":
            threading.Thread(target=self._publish_cine_volumes, args=(client,), daemon=True,
                             name="cine-volumes").start()

    @staticmethod
    def _publish_cine_volumes(client) -> None:
        try:
            stored = publish_cine_volumes(client)
            logger.info("CEUS cine volumes: %d stored in the PACS", len(stored))
        except Exception:  # the PACS may be unreachable now: the server still serves everything else
            logger.exception("CEUS cine volumes: publishing failed")

    def init_infers(self) -> dict[str, InferTask]:
        return {"ceus_box": CeusBoxInfer(), "mri_tumour": MriTumourInfer(),
                "whole_liver": WholeLiverInfer(os.path.join(self.model_dir, liver_cfg.MODEL_FILE))}

    def _init_dicomweb_datastore(self):
        # MONAI Label builds the DICOMweb datastore from its settings (client, auth, cache, filter); keep
        # all that and give it hccrisk's save/sync rules (per-observer SEG / CEUS box SR, multi-clip US)
        store = super()._init_dicomweb_datastore()
        store.__class__ = ObserverDICOMWebDatastore
        return store

    def infer(self, request, datastore=None):
        # On a series' first request the DICOMweb datastore hands the task a temporary NIfTI, away from
        # the cached DICOM folder (<cache>/<uid>/ beside <cache>/<uid>.nii.gz) whose US header ceus_box
        # reads; converting first makes every request see the cached path.
        # A CEUS cine volume (OHIF's panel sends it): ceus_box tracks on its source cine, cached here too.
        image = request.get("image")
        if isinstance(image, str) and not os.path.exists(image):
            store = datastore or self.datastore()
            sources = volume_sources(store.get_image_uri(image))
            if sources is not None:  # the second call gives the cached path (the first may give a temporary one)
                store.get_image_uri(sources.source_series_uid)
                request["cine_image"] = store.get_image_uri(sources.source_series_uid)
        return super().infer(request, datastore)

    def init_trainers(self) -> dict[str, TrainTask]:
        return {"whole_liver": WholeLiverTrain(os.path.join(self.model_dir, "whole_liver"),
                                               publish_path=os.path.join(self.model_dir, liver_cfg.MODEL_FILE))}
