"""Publication figures (matplotlib, Agg canvas, colour-blind-safe palette). Every figure function returns
``(figure, numbers)``: the Figure and a dict of the numbers it plotted; :func:`save_figure` writes PNG
(300 dpi), PDF and/or SVG plus the numbers as JSON. See docs/figures.md.
"""

from hccrisk.report.figures._style import PALETTE, save_figure, to_jsonable
from hccrisk.report.figures.calibration import calibration_figure
from hccrisk.report.figures.decision import decision_figure
from hccrisk.report.figures.forest import forest_figure
from hccrisk.report.figures.nomogram import Nomogram, Predictor
from hccrisk.report.figures.nomogram_drawing import nomogram_figure
from hccrisk.report.figures.roc import roc_figure, roc_points
from hccrisk.report.figures.shap import linear_shap, shap_summary_figure, shap_waterfall_figure
from hccrisk.report.figures.survival import km_figure, risk_groups

__all__ = [
    "PALETTE",
    "save_figure",
    "to_jsonable",
    "roc_figure",
    "roc_points",
    "calibration_figure",
    "decision_figure",
    "km_figure",
    "risk_groups",
    "forest_figure",
    "Nomogram",
    "Predictor",
    "nomogram_figure",
]
