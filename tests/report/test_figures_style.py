"""Saving figures (PNG/PDF/SVG + JSON numbers) and the shared number formatting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hccrisk.errors import InputError
from hccrisk.report.figures import Nomogram, nomogram_figure, save_figure
from hccrisk.report.figures._style import format_p


def test_save_figure_writes_every_format_and_the_numbers(tmp_path):
    nom = Nomogram.from_logistic({"size": 0.5, "child": {"A": 0.0, "B": 1.0}}, -1.0, {"size": (1, 9)})
    fig, numbers = nomogram_figure(nom)
    numbers["missing"] = np.nan
    paths = save_figure(fig, tmp_path / "sub" / "nomogram.png", numbers, formats=("png", "pdf", "svg"))
    assert [p.name for p in paths] == ["nomogram.png", "nomogram.pdf", "nomogram.svg", "nomogram.json"]
    pdf = paths[1].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # TrueType embedded: text stays editable
    svg = paths[2].read_text()
    assert "<svg" in svg and ">Total points<" in svg  # text kept as text, not paths
    saved = json.loads(paths[3].read_text())
    assert saved["missing"] is None
    assert saved["predictors"]["child"]["values"] == ["A", "B"]
    assert saved["scale"] == pytest.approx(nom.scale)
    with pytest.raises(InputError, match="format"):
        save_figure(fig, tmp_path / "x", formats=("jpg",))


@pytest.mark.parametrize("p, text", [(0.0004, "P < 0.001"), (0.0123, "P = 0.012"), (0.43, "P = 0.43"),
                                     (0.999, "P > 0.99"), (np.nan, "P = NA")])
def test_format_p(p, text):
    assert format_p(p) == text
