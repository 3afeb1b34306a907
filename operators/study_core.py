"""SDK-free part of study loading: one patient's one study from a folder, and which path of the app (CEUS
or MRI) serves it (importable and testable without the MONAI Deploy SDK)."""

from __future__ import annotations

import logging
from pathlib import Path

from hccrisk.dicom.scan import Series, scan
from hccrisk.dicom.select import select_ceus, select_mri
from hccrisk.errors import InputError
from hccrisk.log import pseudonym

log = logging.getLogger(__name__)


def load_study(input_folder: Path) -> list[Series]:
    """The series of the one patient's one study in ``input_folder`` (``hccrisk.dicom.scan``); files that are
    not DICOM (clinical.csv, a README) are skipped, a DICOM file that cannot be read refuses the study."""
    found = scan(input_folder)
    broken = []
    for error in found.errors:
        if "not a DICOM file" in str(error):  # clinical.csv, a README: not part of the study
            log.info("skipped %s", error)
        else:
            broken.append(error)
    if broken:  # a truncated or corrupt image: refuse rather than report on part of the study
        raise InputError(input_folder, f"{len(broken)} file(s) of the study cannot be read, so it is "
                                       f"not analysed; first: {broken[0]}")
    by_patient = found.by_patient()
    if len(by_patient) != 1:
        raise InputError(input_folder, f"expected one patient's study, found {len(by_patient)} patients")
    (patient, series), = by_patient.items()
    studies = {s.study_uid for s in series}
    if len(studies) != 1:
        raise InputError(input_folder, f"expected one study, found {len(studies)} for patient {pseudonym(patient)}")
    log.info("study of patient %s: %d series", pseudonym(patient), len(series))
    return series


def study_kind(series: list[Series]) -> str:
    """Which path of the app serves the study, by the selection rules: "ceus" when ``select_ceus`` finds a
    contrast cine, else "mri" when ``select_mri`` places an MR series in a phase; else InputError."""
    if select_ceus(series)[0]:
        return "ceus"
    if select_mri(series)[0]:
        return "mri"
    modalities = sorted({s.modality or "?" for s in series})
    raise InputError(series[0].instances[0].path.parent, f"neither a CEUS cine nor an MRI contrast phase in the "
                                                         f"study (modalities {', '.join(modalities)})")
