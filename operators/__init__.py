"""MONAI Deploy operators of the hccrisk app: each one a thin wrapper over one hccrisk library step.

Data passed between operators are plain Python objects (paths, dicts, numpy arrays), so each step can
be tested and reused outside the SDK. The operator classes are imported on first use, so the SDK-free
parts (``operators.inference_core``) import where the SDK is not installed (e.g. a GPU bench machine).
"""

from importlib import import_module

_WHERE = {"StudyLoaderOperator": "study", "CeusSeriesSelectorOperator": "study", "CeusTimelineOperator": "ceus",
          "CeusRoiOperator": "ceus", "BundleInferenceOperator": "inference", "ClinicalValuesOperator": "clinical",
          "NomogramOperator": "nomogram", "RiskReportWriterOperator": "results", "HeatmapWriterOperator": "results",
          "MriSeriesSelectorOperator": "mri", "MriVolumesOperator": "mri", "MriInferenceOperator": "mri",
          "MriHeatmapWriterOperator": "mri"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"operators.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'operators' has no attribute {name!r}")
