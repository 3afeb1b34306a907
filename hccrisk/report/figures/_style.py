"""Publication style shared by every figure: palette, fonts, sizes, saving, number formatting.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas (never pyplot), so they work
headless, hold no global state and are freed when the caller drops them.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable, TypeVar

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hccrisk.errors import InputError

# Okabe & Ito (2008) colour-blind-safe palette, black first for the reference model/group.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: poor contrast on white)
)
LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
GREY = "#7F7F7F"

# Widths in inches of a journal's single and double column.
SINGLE_COLUMN_IN = 3.5
DOUBLE_COLUMN_IN = 7.2

RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.5,
    "savefig.dpi": 300,
    "pdf.fonttype": 42,  # embed TrueType so journals' editors can edit text
    "ps.fonttype": 42,
    "svg.fonttype": "none",
}

SAVE_FORMATS = ("png", "pdf", "svg")


F = TypeVar("F", bound=Callable[..., Any])


def publication_style(func: F) -> F:
    """Run a figure function under :data:`RC` (text picks its font size when it is created)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def color(i: int) -> str:
    """The i-th palette colour (cycles)."""
    return PALETTE[i % len(PALETTE)]


def linestyle(i: int) -> Any:
    """The i-th line style (cycles); styles double-encode series for greyscale print."""
    return LINESTYLES[i % len(LINESTYLES)]


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure with the Agg canvas attached and constrained layout (no clipped labels)."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def format_p(p: float) -> str:
    """P value as journals print it: 'P < 0.001', 'P = 0.049' (3 decimals below 0.1, so 0.0499 is not
    shown as 0.05), 'P = 0.43'."""
    if p is None or not np.isfinite(p):
        return "P = NA"
    if p < 0.001:
        return "P < 0.001"
    if p < 0.0995:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}" if p < 0.995 else "P > 0.99"


def save_figure(
    fig: Figure,
    path: str | Path,
    numbers: Mapping[str, Any] | None = None,
    formats: Iterable[str] = ("png",),
    dpi: int = 300,
) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix in ``formats`` (png 300 dpi, vector pdf/svg), and
    ``numbers`` (the dict every figure function returns) as ``<path>.json``.

    ``path`` may carry a suffix or not; the suffix is replaced. Returns the written paths.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lstrip(".") in SAVE_FORMATS + ("json",) else path
    written = []
    for fmt in formats:
        if fmt not in SAVE_FORMATS:
            raise InputError(path, f"unknown figure format {fmt!r}; use one of {', '.join(SAVE_FORMATS)}")
        out = stem.with_name(f"{stem.name}.{fmt}")
        out.parent.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context(RC):  # font embedding (pdf/svg.fonttype) is read when saving
            fig.savefig(out, format=fmt, dpi=dpi)
        written.append(out)
    if numbers is not None:
        out = stem.with_name(f"{stem.name}.json")
        out.write_text(json.dumps(to_jsonable(numbers), indent=1, allow_nan=False))
        written.append(out)
    return written


def to_jsonable(x: Any) -> Any:
    """Numbers dict -> plain JSON types (arrays to lists, NaN/inf to None, dataclass results to dicts)."""
    if hasattr(x, "as_dict"):
        x = x.as_dict()
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return [to_jsonable(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    return x
