"""Shared check for the figure tests: the figure saves to a PNG of the right size with something drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.text import Text
from PIL import Image

from hccrisk.report.figures import save_figure


def render(fig, numbers: dict, tmp_path: Path, name: str) -> Path:
    """Save ``fig`` as PNG (300 dpi) + JSON in ``tmp_path``; assert size, content, JSON round trip and
    that no two texts overlap."""
    assert_no_text_overlap(fig)
    png, js = save_figure(fig, tmp_path / name, numbers, formats=("png",))
    image = np.asarray(Image.open(png).convert("L"))
    assert image.shape == (round(fig.get_figheight() * 300), round(fig.get_figwidth() * 300))
    assert (image < 128).mean() > 0.005, "the PNG is (almost) blank"
    assert isinstance(json.loads(js.read_text()), dict)
    return png


def assert_no_text_overlap(fig) -> None:
    """No two visible texts of ``fig`` (titles, tick labels, legend entries, annotations) overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    overlaps = [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]
    assert not overlaps, f"overlapping texts: {overlaps[:5]}"
