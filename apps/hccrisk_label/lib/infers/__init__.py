from .ceus_box import CeusBoxInfer
from .mri_tumour import MriTumourInfer
from .whole_liver import WholeLiverInfer

__all__ = ["CeusBoxInfer", "MriTumourInfer", "WholeLiverInfer"]
