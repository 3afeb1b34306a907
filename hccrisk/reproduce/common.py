"""What every reproduction shares: the ingest step, ROI masks in the ingested space, cached radiomics,
the binary endpoint, and the performance table of a fitted model (AUC, Youden operating point).

Data flow (docs/reproduce.md): cohort folder -> ingest (reused when given) -> observer masks mapped to
the ingested grid (``hccrisk.roi.mri``) -> ``hccrisk.radiomics.extract_cohort`` (cached) -> the paper's
analysis (one module per paper) -> ``hccrisk.report.html.Report``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import SimpleITK as sitk

from hccrisk.errors import HccriskError, InputError
from hccrisk.log import get_logger, pseudonym

log = get_logger(__name__)

#: Default binary early-recurrence endpoint: recurrence within 2 years (zhao2024, liu2025). chen2025 uses
#: er_6m and huang2022 er_1y, set in their modules.
ER_ENDPOINT = "er_2y"


@dataclass(frozen=True)
class RunPaths:
    """Where a reproduction reads and writes. ``work`` holds masks and the radiomics cache (reusable)."""

    cohort: Path
    out: Path
    ingest: Path
    work: Path


def resolve_paths(cohort_dir: str | Path, out_dir: str | Path, ingest_dir: str | Path | None) -> RunPaths:
    """Check the cohort folder and choose the ingest and work folders (ingest defaults to ``out/ingest``)."""
    cohort = Path(cohort_dir)
    if not (cohort / "clinical.csv").is_file() or not (cohort / "outcomes.csv").is_file():
        raise InputError(cohort, "not a cohort folder: clinical.csv and outcomes.csv are required")
    out = Path(out_dir)
    ingest = Path(ingest_dir) if ingest_dir is not None else out / "ingest"
    return RunPaths(cohort, out, ingest, out / "work")


def ensure_ingested(paths: RunPaths, workers: int | None) -> None:
    """Ingest ``cohort/dicom`` into ``paths.ingest`` unless it already holds a manifest (reused as is;
    ``ingest`` itself skips patients already done, so an interrupted ingest resumes)."""
    if (paths.ingest / "manifest.csv").is_file():
        log.info("reusing the ingest in %s", paths.ingest)
        return
    dicom = paths.cohort / "dicom"
    if not dicom.is_dir():
        raise InputError(paths.cohort, "no dicom/ folder to ingest and no --ingest folder given")
    from hccrisk.ingest.pipeline import ingest

    result = ingest(dicom, paths.ingest, workers=workers)
    log.info("ingest: %d done, %d skipped, %d failed", result.n_done, result.n_skipped, result.n_failed)


def labelled_patients(cohort: pd.DataFrame, endpoint: str = ER_ENDPOINT) -> pd.DataFrame:
    """Patients whose binary endpoint is known (the papers excluded those lost to follow-up before it)."""
    if endpoint not in cohort:
        raise InputError("outcomes.csv", f"no column {endpoint!r}")
    data = cohort[cohort[endpoint].notna()].copy()
    data[endpoint] = data[endpoint].astype(int)
    if data[endpoint].nunique() < 2:
        raise InputError("outcomes.csv", f"{endpoint} has a single class among labelled patients")
    return data


def _mask_is_current(path: Path, sources: Sequence[Path]) -> bool:
    return path.is_file() and all(path.stat().st_mtime >= s.stat().st_mtime for s in sources if s.is_file())


def ingested_tumour_masks(paths: RunPaths, patient_ids: Sequence[str], observer: str, phases: Sequence[str],
                          roi: str = "tumour") -> tuple[dict[str, dict[str, Path]], list[dict[str, str]]]:
    """Write each patient's ``roi`` mask ("tumour": the largest nodule, zhao2024; "liver": whole liver,
    chen2025) of ``observer`` for every phase on the ingested 1 mm grid, as NIfTI under
    ``work/masks/<observer>/<patient>/<phase>_<roi>.nii.gz`` (kept; redone only when a source is newer).

    Returns ({patient: {phase: mask path}}, failures as rows patient/problem). A patient without
    ingested MRI or masks is a failure, not an abort.
    """
    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.roi.mri import ingested_rois

    masks: dict[str, dict[str, Path]] = {}
    failures: list[dict[str, str]] = []
    for pid in patient_ids:
        roi_dir = paths.cohort / "rois" / observer / pid
        patient_dir = paths.ingest / patient_dir_name(pid)
        out_dir = paths.work / "masks" / observer / patient_dir_name(pid)
        targets = {ph: out_dir / f"{ph}_{roi}.nii.gz" for ph in phases}
        sources = [roi_dir / f"mri_{ph}_{roi}.nii.gz" for ph in phases] + \
                  [patient_dir / "mri" / f"{ph}.nii.gz" for ph in phases]
        if all(_mask_is_current(t, sources) for t in targets.values()):
            masks[pid] = targets
            continue
        try:
            if not (patient_dir / "mri").is_dir():
                raise InputError(patient_dir, "no ingested MRI (see the ingest's problems.csv)")
            rois = ingested_rois(roi_dir, patient_dir, phases, largest=(roi == "tumour"))
            out_dir.mkdir(parents=True, exist_ok=True)
            for ph in phases:
                if roi not in rois[ph]:
                    raise InputError(roi_dir, f"no {ph} {roi} mask")
                sitk.WriteImage(rois[ph][roi], str(targets[ph]), useCompression=True)
            masks[pid] = targets
        except (HccriskError, RuntimeError) as exc:
            log.warning("%s (%s): ROI not mapped: %s", pseudonym(pid), observer, exc)
            failures.append({"patient_id": pid, "observer": observer, "problem": str(exc)})
    return masks, failures


def extract_phase_features(paths: RunPaths, masks: dict[str, dict[str, Path]], params: str,
                           workers: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Radiomics of every (patient, phase) image with its mask, phases as column prefixes
    (``AP_original_firstorder_Mean``); cached in ``work/radiomics-cache``. Returns (features indexed by
    patient_id, failures)."""
    from hccrisk.ingest.pipeline import patient_dir_name
    from hccrisk.radiomics import Case, extract_cohort

    cases = [Case(pid, paths.ingest / patient_dir_name(pid) / "mri" / f"{ph}.nii.gz", mask, prefix=ph)
             for pid, by_phase in masks.items() for ph, mask in by_phase.items()]
    if not cases:
        return pd.DataFrame(), pd.DataFrame(columns=["case_id", "prefix", "error"])
    table, failures = extract_cohort(cases, params, cache_dir=paths.work / "radiomics-cache", workers=workers)
    table.index = table.index.astype(str)
    table.index.name = "patient_id"
    return table, failures


def cohort_meta(cohort_dir: Path) -> dict[str, Any]:
    path = cohort_dir / "cohort.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def performance_row(model: str, y_train: np.ndarray, p_train: np.ndarray, y_val: np.ndarray,
                    p_val: np.ndarray) -> list[dict[str, Any]]:
    """Two rows (training, validation): AUC with DeLong 95% CI, and sensitivity, specificity, accuracy
    at the Youden cut-off chosen in the training cohort and applied unchanged to validation."""
    from hccrisk import stats

    cut = stats.youden_cutoff(y_train, p_train).cutoff
    rows = []
    for cohort, y, p in (("training", y_train, p_train), ("validation", y_val, p_val)):
        auc = stats.auc_ci(y, p)
        dm = stats.diagnostic_metrics(y, p, cut)
        rows.append({"model": model, "cohort": cohort, "n": len(y), "events": int(np.sum(y)),
                     "AUC": auc.auc, "AUC low": auc.low, "AUC high": auc.high,
                     "sensitivity": dm.sensitivity.estimate, "specificity": dm.specificity.estimate,
                     "accuracy": dm.accuracy.estimate, "cut-off (training Youden)": cut})
    return rows
