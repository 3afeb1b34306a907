"""MONAI Deploy operators of the hccrisk app: each one a thin wrapper over one hccrisk library step.

Data passed between operators are plain Python objects (paths, dicts, numpy arrays), so each step can
be tested and reused outside the SDK.
"""

from operators.ceus import CeusRoiOperator, CeusTimelineOperator
from operators.clinical import ClinicalValuesOperator
from operators.inference import BundleInferenceOperator
from operators.nomogram import NomogramOperator
from operators.results import HeatmapWriterOperator, RiskReportWriterOperator
from operators.study import CeusSeriesSelectorOperator, StudyLoaderOperator

__all__ = ["StudyLoaderOperator", "CeusSeriesSelectorOperator", "CeusTimelineOperator", "CeusRoiOperator",
           "BundleInferenceOperator", "ClinicalValuesOperator", "NomogramOperator", "RiskReportWriterOperator", "HeatmapWriterOperator"]
