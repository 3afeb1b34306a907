"""Shared check for the figure tests: the figure saves to a PNG of the right size with something drawn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.text import Text
from PIL import Image

from hccrisk.report.figures import save_figure


def render(fig, numbers: dict, tmp_path: Path, name: str) -> Path:
    """Save ``fig`` as PNG (300 dpi) + JSON in ``tmp_path``; assert size, content, JSON round trip, that
    no two texts overlap and that no text is clipped by the canvas edge."""
    assert_no_text_overlap(fig)
    assert_texts_inside_canvas(fig)
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


def assert_texts_inside_canvas(fig) -> None:
    """Every visible text lies inside the figure (a clipped axis label or title is a layout bug)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    # Tick labels of ticks beyond an axis' limits exist but are not drawn.
    undrawn = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    undrawn.update({id(tick.label1), id(tick.label2)})
    clipped = []
    for t in fig.findobj(Text):
        if not (t.get_visible() and t.get_text().strip()) or id(t) in undrawn:
            continue
        box = t.get_window_extent(renderer)
        if box.x0 < canvas.x0 - 1 or box.y0 < canvas.y0 - 1 or box.x1 > canvas.x1 + 1 or box.y1 > canvas.y1 + 1:
            clipped.append(t.get_text())
    assert not clipped, f"texts cut by the figure edge: {clipped[:5]}"
