"""A study folder to try the app or the service with: one synthetic patient's CEUS clips, the radiologist's
box SR, and clinical.csv.

The box SR is, by default, what the MONAI Label app stores (docs/label.md): observer1's reading, the tumour
box plus a 5 mm margin on EVERY stored frame of every clip (here the cohort's ground-truth track), the margin
recorded. ``--one-box`` writes instead one un-margined box on the frame nearest 25 s (a rectangle drawn on one
frame, as a viewer or ``hccrisk roi track --sr`` stores it), which the app tracks over the cine.

    .venv/bin/hccrisk synth --out cohort --patients 1 --modality ceus
    .venv/bin/python -m deploy.demo --cohort cohort --patient SYN0001 --out study/ [--one-box]
    deploy/run.sh -m deploy -i study -o out/                           # or send study/ with storescu
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import pydicom

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox, expand_box
from hccrisk.roi.sr import write_box_sr

BOX_TIME_S = 25.0  # arterial phase: where a radiologist marks a hyper-enhancing HCC
LABEL_MARGIN_MM = 5.0  # the MONAI Label app's ceus_box default margin
LABEL_OBSERVER = "observer1"  # the primary reading


def make_demo_study(cohort: Path, patient_id: str, folder: Path, clinical: bool = True, one_box: bool = False) -> Path:
    """Write ``folder`` (must not exist): the patient's CEUS files from ``cohort/dicom``, ``roi_sr.dcm``
    (per-frame margined boxes as the MONAI Label app stores them; ``one_box``: one box on one frame) and,
    if ``clinical``, a copy of the cohort's clinical.csv. Returns ``folder``."""
    cohort, folder = Path(cohort), Path(folder)
    track = cohort / "rois" / "observer1" / patient_id / "ceus_tumour.csv"
    if not track.is_file():
        raise InputError(track, f"no CEUS ground-truth track for {patient_id} (a synthetic CEUS cohort is needed)")
    folder.mkdir(parents=True)
    files = {}
    for path in sorted(p for p in (cohort / "dicom").rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID", "Modality", "SOPInstanceUID"])
        if ds.PatientID == patient_id and ds.Modality == "US":  # the CEUS study only (a cohort may hold MRI too)
            files[str(ds.SOPInstanceUID)] = Path(shutil.copy(path, folder / f"{ds.SOPInstanceUID}.dcm"))
    with open(track, newline="") as f:
        rows = list(csv.DictReader(f))
    if one_box:
        row = min(rows, key=lambda r: abs(float(r["time_s"]) - BOX_TIME_S))
        box = CeusBox(*(int(row[k]) for k in ("x0", "y0", "x1", "y1")), frame=int(row["frame"]))
        write_box_sr([(box, files[row["sop_instance_uid"]])], folder / "roi_sr.dcm")
    else:
        write_label_app_sr(rows, files, folder / "roi_sr.dcm")
    if clinical:
        shutil.copy(cohort / "clinical.csv", folder / "clinical.csv")
    return folder


def write_label_app_sr(rows: list[dict], files: dict[str, Path], path: Path) -> Path:
    """The box SR the MONAI Label app saves for observer1 (``apps/hccrisk_label/lib/datastore.ceus_label_sr``):
    on every stored frame, the tumour box (``rows``: ceus_tumour.csv, stored-frame pixels) enlarged by
    LABEL_MARGIN_MM and clipped to the clip's contrast region, margin recorded, the observer in the
    SeriesDescription and as person observer."""
    from hccrisk.dicom.us import image_regions, read_clip
    from hccrisk.roi.io import observer_series_description

    regions = {}
    boxes = []
    for row in rows:
        sop = row["sop_instance_uid"]
        if sop not in regions:
            regions[sop] = image_regions(read_clip(files[sop]))
        tumour = CeusBox(*(int(row[k]) for k in ("x0", "y0", "x1", "y1")), frame=int(row["frame"]))
        region = next((r for r in regions[sop] if r.x0 <= tumour.x0 and tumour.x1 <= r.x0 + r.width
                       and r.y0 <= tumour.y0 and tumour.y1 <= r.y0 + r.height), None)
        if region is None:
            raise InputError(files[sop], f"tumour box {tumour} of frame {tumour.frame} lies in no ultrasound region")
        local = expand_box(tumour.shifted(-region.x0, -region.y0), LABEL_MARGIN_MM, region.spacing_mm,
                           (region.height, region.width))
        boxes.append((local.shifted(region.x0, region.y0), files[sop]))
    return write_box_sr(boxes, path, margin_mm=LABEL_MARGIN_MM, observer="hccrisk MONAI Label", person=LABEL_OBSERVER,
                        series_description=observer_series_description(LABEL_OBSERVER, "CEUS tumour box"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, required=True, help="hccrisk synth output (CEUS)")
    parser.add_argument("--patient", default="SYN0001")
    parser.add_argument("--out", type=Path, required=True, help="new study folder")
    parser.add_argument("--no-clinical", action="store_true", help="leave clinical.csv out")
    parser.add_argument("--one-box", action="store_true", help="one box on one frame instead of the MONAI Label "
                                                               "app's box on every frame (the app then tracks it)")
    args = parser.parse_args(argv)
    try:
        folder = make_demo_study(args.cohort, args.patient, args.out, clinical=not args.no_clinical,
                                 one_box=args.one_box)
    except (InputError, FileExistsError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"wrote {folder}: {len(list(folder.glob('*.dcm')))} DICOM files")


if __name__ == "__main__":
    main()
