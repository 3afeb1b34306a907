"""A study folder to try the app or the service with: one synthetic patient's CEUS clips, the radiologist's
box SR (drawn on the frame nearest 25 s, from the cohort's ground-truth track), and clinical.csv.

    .venv/bin/hccrisk synth --out cohort --patients 1 --modality ceus
    .venv/bin/python -m deploy.demo --cohort cohort --patient SYN0001 --out study/
    deploy/run.sh -m deploy -i study -o out/                           # or send study/ with storescu
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import pydicom

from hccrisk.errors import InputError
from hccrisk.roi.box import CeusBox
from hccrisk.roi.sr import write_box_sr

BOX_TIME_S = 25.0  # arterial phase: where a radiologist marks a hyper-enhancing HCC


def make_demo_study(cohort: Path, patient_id: str, folder: Path, clinical: bool = True) -> Path:
    """Write ``folder`` (must not exist): the patient's DICOM files from ``cohort/dicom``, ``roi_sr.dcm``
    and, if ``clinical``, a copy of the cohort's clinical.csv. Returns ``folder``."""
    cohort, folder = Path(cohort), Path(folder)
    track = cohort / "rois" / "observer1" / patient_id / "ceus_tumour.csv"
    if not track.is_file():
        raise InputError(track, f"no CEUS ground-truth track for {patient_id} (a synthetic CEUS cohort is needed)")
    folder.mkdir(parents=True)
    files = {}
    for path in sorted(p for p in (cohort / "dicom").rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID", "SOPInstanceUID"])
        if ds.PatientID == patient_id:
            files[str(ds.SOPInstanceUID)] = Path(shutil.copy(path, folder / f"{ds.SOPInstanceUID}.dcm"))
    with open(track, newline="") as f:
        row = min(csv.DictReader(f), key=lambda r: abs(float(r["time_s"]) - BOX_TIME_S))
    box = CeusBox(*(int(row[k]) for k in ("x0", "y0", "x1", "y1")), frame=int(row["frame"]))
    write_box_sr([(box, files[row["sop_instance_uid"]])], folder / "roi_sr.dcm")
    if clinical:
        shutil.copy(cohort / "clinical.csv", folder / "clinical.csv")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, required=True, help="hccrisk synth output (CEUS)")
    parser.add_argument("--patient", default="SYN0001")
    parser.add_argument("--out", type=Path, required=True, help="new study folder")
    parser.add_argument("--no-clinical", action="store_true", help="leave clinical.csv out")
    args = parser.parse_args(argv)
    try:
        folder = make_demo_study(args.cohort, args.patient, args.out, clinical=not args.no_clinical)
    except (InputError, FileExistsError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"wrote {folder}: {len(list(folder.glob('*.dcm')))} DICOM files")


if __name__ == "__main__":
    main()
