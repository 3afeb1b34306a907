"""A self-contained HTML report: tables (also written as CSV), figures (PNG embedded, numbers in JSON)
and the provenance a reader needs to reproduce it (seed, versions, parameter files).

    report = Report("zhao2024 on cohort X", out_dir)
    report.section("Baseline characteristics")
    report.table("baseline", df, caption="Table 1 ...")
    report.figure("roc_validation", fig, numbers, caption="...")
    report.write()          # out_dir/report.html, tables/*.csv, figures/*.png, figures.json, provenance.json
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from hccrisk import __version__

#: Packages whose versions every report records.
PROVENANCE_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "statsmodels", "lifelines",
                       "scikit-survival", "pydicom", "highdicom", "SimpleITK", "torch", "monai",
                       "pyradiomics-bhklab", "pyradiomics", "matplotlib")

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
     padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #0b5394;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.8em;color:#0b5394}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.86em}
th,td{border-bottom:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f1f4f8;text-align:center}
td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
figure{margin:1em 0 2em} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#444}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .8em;margin:1em 0}
.prov{font-size:.8em;color:#555} code{background:#f4f4f4;padding:0 .2em}
"""


def package_versions(names: tuple[str, ...] = PROVENANCE_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing packages omitted)."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _format_cell(value: Any, digits: int) -> str:
    if value is pd.NA or value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return html.escape(str(value))


@dataclass
class Report:
    """Collects sections, tables and figures in order, then writes them as one HTML page."""

    title: str
    out_dir: Path
    seed: int | None = None
    parameter_files: list[Path] = field(default_factory=list)
    _parts: list[str] = field(default_factory=list)
    _figure_numbers: dict[str, Any] = field(default_factory=dict)
    _extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        (self.out_dir / "tables").mkdir(parents=True, exist_ok=True)
        (self.out_dir / "figures").mkdir(parents=True, exist_ok=True)

    def section(self, heading: str, text: str | None = None) -> None:
        self._parts.append(f"<h2>{html.escape(heading)}</h2>")
        if text:
            self.paragraph(text)

    def paragraph(self, text: str) -> None:
        self._parts.append(f"<p>{html.escape(text)}</p>")

    def links(self, items: list[tuple[str, str]]) -> None:
        """A list of links (text, relative href), e.g. an index of other reports."""
        lis = "".join(f'<li><a href="{html.escape(href)}">{html.escape(text)}</a></li>' for text, href in items)
        self._parts.append(f"<ul>{lis}</ul>")

    def note(self, text: str) -> None:
        """A highlighted remark (a caveat, a skipped analysis and why)."""
        self._parts.append(f'<div class="note">{html.escape(text)}</div>')

    def table(self, name: str, df: pd.DataFrame, caption: str = "", digits: int = 3,
              index: bool = False) -> Path:
        """Render ``df`` and write it to ``tables/<name>.csv`` (full precision)."""
        path = self.out_dir / "tables" / f"{name}.csv"
        df.to_csv(path, index=index)
        shown = df.reset_index() if index else df
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_format_cell(v, digits)}</td>" for v in row) + "</tr>"
            for row in shown.itertuples(index=False)
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        return path

    def figure(self, name: str, fig: Any, numbers: Mapping[str, Any] | None = None,
               caption: str = "") -> Path:
        """Save ``fig`` to ``figures/<name>.png``, embed it, and keep its plotted ``numbers``."""
        from hccrisk.report.figures import save_figure, to_jsonable

        png = save_figure(fig, self.out_dir / "figures" / f"{name}.png", formats=("png",))[0]
        if numbers is not None:
            self._figure_numbers[name] = to_jsonable(dict(numbers))
        data = base64.b64encode(png.read_bytes()).decode()
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        # Shown at its physical size (CSS: 96 px per inch), so every figure's text reads at the size it
        # was designed for instead of being blown up to the page width.
        width_px = round(fig.get_figwidth() * 96)
        self._parts.append(f'<figure><img alt="{html.escape(name)}" style="width:{width_px}px" '
                           f'src="data:image/png;base64,{data}">{cap}</figure>')
        import matplotlib.pyplot as plt

        plt.close(fig)
        return png

    def record(self, key: str, value: Any) -> None:
        """Add ``key`` to provenance.json (e.g. the cohort description, the split)."""
        self._extra[key] = value

    def provenance(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "hccrisk": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "seed": self.seed,
            "packages": package_versions(),
            "parameter_files": {str(p): file_sha256(p) for p in self.parameter_files},
            **self._extra,
        }

    def write(self) -> Path:
        """Write report.html, figures.json and provenance.json; return the HTML path."""
        prov = self.provenance()
        (self.out_dir / "figures.json").write_text(json.dumps(self._figure_numbers, indent=1))
        (self.out_dir / "provenance.json").write_text(json.dumps(prov, indent=1, default=str))
        versions = ", ".join(f"{k} {v}" for k, v in prov["packages"].items())
        footer = (f'<h2>Provenance</h2><p class="prov">hccrisk {__version__}; seed {self.seed}; '
                  f"created {prov['created']}; Python {prov['python']}; {html.escape(versions)}. "
                  "Tables as CSV in <code>tables/</code>, every figure's numbers in "
                  "<code>figures.json</code>, all of this in <code>provenance.json</code>.</p>")
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
                f"</title><style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                + "\n".join(self._parts) + footer + "</body></html>")
        path = self.out_dir / "report.html"
        path.write_text(page)
        return path
