from .whole_liver import WholeLiverTrain

__all__ = ["WholeLiverTrain"]
