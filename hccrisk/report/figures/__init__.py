"""Publication figures. Every function returns ``(figure, numbers)``: the matplotlib Figure and a dict
of the numbers it plotted; :func:`save_figure` writes PNG (300 dpi) / PDF / SVG and the numbers as JSON.
See docs/figures.md.
"""

from hccrisk.report.figures._style import PALETTE, save_figure
from hccrisk.report.figures.nomogram import Nomogram, Predictor, nomogram_figure

__all__ = ["PALETTE", "save_figure", "Nomogram", "Predictor", "nomogram_figure"]
