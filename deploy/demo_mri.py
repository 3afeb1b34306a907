"""An MRI study folder to try the app or the service with: one synthetic patient's MR series, the
radiologist's tumour VOI on the AP series as a DICOM SEG stored as the MONAI Label app stores observer1's
reading (SeriesDescription "hccrisk observer1: tumour"), and clinical.csv.

    .venv/bin/hccrisk synth --out cohort --patients 1 --modality mri
    .venv/bin/python -m deploy.demo_mri --cohort cohort --patient SYN0001 --out study/
    HCCRISK_MRI_BUNDLE=bundles/resnet_zhao2024 deploy/run.sh -m deploy -i study -o out/
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pydicom
import SimpleITK as sitk

from hccrisk.errors import InputError
from hccrisk.roi.io import observer_series_description, write_seg
from hccrisk.roi.mri import read_mask

SEG_NAME = "tumour_seg.dcm"


def make_mri_demo_study(cohort: Path, patient_id: str, folder: Path, clinical: bool = True,
                        phases: tuple[str, ...] = ("T2", "AP", "PVP", "DP"), seg: bool = True) -> Path:
    """Write ``folder`` (must not exist): the patient's MR files of ``phases`` from ``cohort/dicom`` (named
    ``<SOP Instance UID>.dcm``), ``tumour_seg.dcm`` (observer1's ground-truth tumour VOI on AP, every
    nodule as one "tumour" segment, as MONAI Label saves a label) unless ``seg`` is False, and, if
    ``clinical``, a copy of the cohort's clinical.csv. Returns ``folder``."""
    from hccrisk.dicom.scan import scan
    from hccrisk.dicom.select import select_mri

    cohort, folder = Path(cohort), Path(folder)
    mask_path = cohort / "rois" / "observer1" / patient_id / "mri_AP_tumour.nii.gz"
    if not mask_path.is_file():
        raise InputError(mask_path, f"no MRI ground-truth VOI for {patient_id} (a synthetic MRI cohort is needed)")
    series = scan(cohort / "dicom").by_patient().get(patient_id)
    if not series:
        raise InputError(cohort / "dicom", f"no DICOM files of patient {patient_id}")
    chosen, _ = select_mri(series)
    folder.mkdir(parents=True)
    copied: dict[str, list[Path]] = {}
    for phase in phases:
        for inst in chosen[phase].instances if phase in chosen else []:
            copied.setdefault(phase, []).append(Path(shutil.copy(inst.path, folder / f"{inst.sop_uid}.dcm")))
    if seg:
        tumour = sitk.Cast(read_mask(mask_path) > 0, sitk.sitkUInt8)  # label map 1, 2, ... -> one "tumour" segment
        write_seg(tumour, copied["AP"], folder / SEG_NAME, {1: "tumour"},
                  series_description=observer_series_description("observer1", "tumour"))
    if clinical:
        shutil.copy(cohort / "clinical.csv", folder / "clinical.csv")
    return folder


def study_uid(folder: Path) -> str:
    """The StudyInstanceUID of a demo study folder."""
    return str(pydicom.dcmread(next(Path(folder).glob("*.dcm")), stop_before_pixels=True).StudyInstanceUID)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo_mri", description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, required=True, help="hccrisk synth output (--modality mri)")
    parser.add_argument("--patient", default="SYN0001")
    parser.add_argument("--out", type=Path, required=True, help="new study folder")
    parser.add_argument("--no-clinical", action="store_true", help="leave clinical.csv out")
    args = parser.parse_args(argv)
    try:
        folder = make_mri_demo_study(args.cohort, args.patient, args.out, clinical=not args.no_clinical)
    except (InputError, FileExistsError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"wrote {folder}: {len(list(folder.glob('*.dcm')))} DICOM files")


if __name__ == "__main__":
    main()
