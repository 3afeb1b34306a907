"""``hccrisk roi``: propagate a CEUS box over an ingested cine; write MRI masks as DICOM SEG (docs/roi.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from hccrisk.cli import app


roi_app = typer.Typer(help="Regions of interest: CEUS box tracking, MRI masks as DICOM SEG (docs/roi.md).",
                      no_args_is_help=True)
app.add_typer(roi_app, name="roi")


def _parse_box(text: str, what: str) -> tuple[int, int, int, int]:
    from hccrisk.errors import InputError

    try:
        values = tuple(int(round(float(v))) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(what, f"'{text}' is not x0,y0,x1,y1 (four numbers, pixels, x1/y1 exclusive)")
    return values  # type: ignore[return-value]


@roi_app.command("track")
def track_command(
    patient_dir: Path = typer.Argument(..., help="The patient's ingest folder (holding ceus.npz)."),
    box: str = typer.Option(..., "--box", help="Tumour box x0,y0,x1,y1 (x1/y1 exclusive)."),
    time_s: float = typer.Option(..., "--time", help="Time (s from injection) of the sample the box is drawn on."),
    stored: bool = typer.Option(False, "--stored", help="The box is in stored DICOM frame pixels (default: "
                                                        "pixels of the ingested contrast array)."),
    margin_mm: float = typer.Option(5.0, "--margin", help="Liver margin in mm added to the tracked box "
                                                          "(liu2025 5, liu2020 10)."),
    correct: list[str] = typer.Option([], "--correct", help="Correction TIME:x0,y0,x1,y1 (same pixels as "
                                                            "--box); repeatable; re-anchors from there on."),
    out: Path = typer.Option(..., "--out", help="CSV, one row per 2 fps sample (margined boxes)."),
    sr: Path = typer.Option(None, "--sr", help="Also write the box on the anchor sample as a DICOM SR."),
) -> None:
    """Propagate a CEUS tumour box to every 2 fps sample and write the track."""
    from hccrisk.errors import InputError
    from hccrisk.roi.box import CeusBox, stored_to_array
    from hccrisk.roi.cine import load_cine
    from hccrisk.roi.io import write_track_csv
    from hccrisk.roi.sr import cine_boxes_for_sr, write_box_sr
    from hccrisk.roi.tracking import track_box

    try:
        cine = load_cine(patient_dir)

        def to_box(text: str, t: float, what: str) -> CeusBox:
            b = CeusBox(*_parse_box(text, what), frame=cine.sample_at(t))
            return stored_to_array(b, cine.region_origin) if stored else b

        anchor = to_box(box, time_s, "--box")
        corrections = {}
        for item in correct:
            t_text, _, b_text = item.partition(":")
            try:
                t = float(t_text)
            except ValueError:
                raise InputError("--correct", f"'{item}' is not TIME:x0,y0,x1,y1") from None
            c = to_box(b_text, t, "--correct")
            corrections[c.frame] = c
        track = track_box(cine, anchor, corrections=corrections)
        write_track_csv(track, cine.times, cine.valid, out, margin_mm=margin_mm)
        if sr is not None:
            write_box_sr(cine_boxes_for_sr(cine, track.expanded(margin_mm), [anchor.frame], patient_dir), sr,
                         margin_mm=margin_mm)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    low = int((track.score[track.tracked] < 0.2).sum())
    typer.echo(f"{len(track)} samples ({int(cine.valid.sum())} valid) tracked on the {track.source} image; "
               f"{low} with a weak match (NCC < 0.2): check those; track in {out}")


@roi_app.command("seg")
def seg_command(
    mask: Path = typer.Argument(..., help="Label mask (NIfTI) on the MR series' native grid."),
    series: list[Path] = typer.Argument(..., help="The MR series' DICOM files (or one folder holding only them)."),
    out: Path = typer.Option(..., "--out", help="DICOM SEG file to write."),
    name: str = typer.Option("tumour", "--name", help="Segment name for every label: tumour or liver."),
) -> None:
    """Write a mask as a DICOM Segmentation referencing its MR series."""
    from hccrisk.errors import InputError
    from hccrisk.roi.io import write_seg
    from hccrisk.roi.mri import read_mask

    import numpy as np
    import SimpleITK as sitk

    try:
        files = sorted(p for p in series[0].iterdir() if p.is_file()) if len(series) == 1 and series[0].is_dir() \
            else list(series)
        image = read_mask(mask)
        values = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(image)) if v]
        if not values:
            raise InputError(mask, "empty mask: nothing to write")
        write_seg(image, files, out, {v: name for v in values})
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{len(values)} segment(s) written to {out}")
