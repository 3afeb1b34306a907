"""Shared check for the figure tests: the figure saves to a PNG of the right size with something drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from hccrisk.report.figures import save_figure


def render(fig, numbers: dict, tmp_path: Path, name: str) -> Path:
    """Save ``fig`` as PNG (300 dpi) + JSON in ``tmp_path``; assert size, content and JSON round trip."""
    png, js = save_figure(fig, tmp_path / name, numbers, formats=("png",))
    image = np.asarray(Image.open(png).convert("L"))
    assert image.shape == (round(fig.get_figheight() * 300), round(fig.get_figwidth() * 300))
    assert (image < 128).mean() > 0.005, "the PNG is (almost) blank"
    assert isinstance(json.loads(js.read_text()), dict)
    return png
