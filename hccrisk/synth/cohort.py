"""The cohort orchestrator: latents -> per-patient images, ROIs, clinical values, outcomes, truth ->
the folder layout of docs/architecture.md ("Synthetic cohort layout"). Patients run in parallel."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from hccrisk import __version__
from hccrisk.errors import InputError
from hccrisk.log import get_logger
from hccrisk.synth import ceus, clinical, outcomes
from hccrisk.synth.common import SIZES, opaque_name
from hccrisk.synth.latent import PatientLatents, draw_latents
from hccrisk.synth.rois import observer2_subset, roi_dirs, write_rows

log = get_logger(__name__)

DEFAULT_PATIENTS = 120
MODALITIES = ("ceus", "mri", "both")
#: CEUS/MRI folder styles, chosen per patient: the ingest must find studies wherever they lie.
DICOM_LAYOUTS = ("nested", "flat", "opaque")
_LATENT_COLUMNS = ("aggressiveness", "liver_reserve", "cirrhosis", "tumour_size_cm", "tumour_number",
                   "heterogeneity", "rim", "washout", "arterial_enhancement", "arterial_aggressiveness",
                   "washout_aggressiveness", "depth_cm", "vendor",
                   "study_datetime", "sex", "age")


def mri_writer():
    """``hccrisk.synth.mri.write_mri_study`` or None when the MRI writer is not installed."""
    try:
        return importlib.import_module("hccrisk.synth.mri").write_mri_study
    except (ImportError, AttributeError) as exc:
        log.warning("MRI writer unavailable (%s): MRI skipped", exc)
        return None


def dicom_dirs(out: Path, p: PatientLatents) -> dict[str, Path]:
    """Where this patient's CEUS and MRI files go; the style is drawn from the patient's seed."""
    style = DICOM_LAYOUTS[int(p.rng("layout").integers(len(DICOM_LAYOUTS)))]
    root = Path(out) / "dicom"
    date = p.study_datetime.strftime("%Y%m%d")
    if style == "nested":
        return {"ceus": root / p.patient_id / f"{date}_US", "mri": root / p.patient_id / f"{date}_MR"}
    if style == "flat":  # CEUS files of many patients in one folder
        return {"ceus": root, "mri": root / opaque_name(p.cohort_seed, p.patient_id, "mr")}
    top = root / opaque_name(p.cohort_seed, p.patient_id)
    return {"ceus": top / opaque_name(p.cohort_seed, p.patient_id, "us"),
            "mri": top / opaque_name(p.cohort_seed, p.patient_id, "mr")}


def _round(row: dict, digits: int = 6) -> dict:
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in row.items()}


def patient_rows(p: PatientLatents) -> tuple[dict, dict, dict]:
    """One patient's clinical, outcome and truth rows (no images: the truth lacks image kinetics)."""
    clin = clinical.clinical_row(p)
    outc = outcomes.draw_outcomes(p, clin["treatment"])
    lat = p.as_row()
    truth = {"patient_id": p.patient_id, **{c: lat[c] for c in _LATENT_COLUMNS},
             "treatment": clin["treatment"], **outcomes.true_risks(p, clin["treatment"]),
             "signal": p.signal}
    return clin, outc, truth


def cohort_tables(n_patients: int, seed: int = 0, signal: float = 1.0) -> dict[str, "pd.DataFrame"]:
    """clinical, outcomes and truth tables of the cohort ``generate_cohort`` would write, without
    images (fast: for statistics and model tests on large cohorts). Same rows, same values."""
    import pandas as pd

    rows = [patient_rows(p) for p in draw_latents(n_patients, seed, signal)]
    return {"clinical": pd.DataFrame([r[0] for r in rows], columns=list(clinical.CLINICAL_COLUMNS)),
            "outcomes": pd.DataFrame([r[1] for r in rows], columns=list(outcomes.OUTCOME_COLUMNS)),
            "truth": pd.DataFrame([_round(r[2]) for r in rows])}


def generate_patient(p: PatientLatents, out: Path, modality: str, size: str, second_observer: bool,
                     with_mri: bool) -> dict:
    """Everything of one patient; returns its clinical, outcome and truth rows and files written."""
    clin, outc, truth = patient_rows(p)
    obs1, obs2 = roi_dirs(out, p.patient_id, second_observer)
    dirs = dicom_dirs(out, p)
    n_files = 0
    if modality in ("ceus", "both"):
        res = ceus.write_ceus_study(p, dirs["ceus"], obs1, size, p.rng("ceus"), obs2)
        n_files += len(res["files"])
        truth.update({k: v for k, v in res.items() if k.startswith("ceus_")})
    if modality in ("mri", "both") and with_mri:
        write_mri = importlib.import_module("hccrisk.synth.mri").write_mri_study
        res = write_mri(p, dirs["mri"], obs1, size, p.rng("mri"), obs2)
        n_files += sum(len(s.get("files", [])) for s in res.get("series", {}).values())
        truth.update({f"mri_{k}" if not k.startswith("mri_") else k: v
                      for k, v in res.get("truth", {}).items()})
    return {"index": p.index, "clinical": clin, "outcomes": outc, "truth": _round(truth), "files": n_files}


def _job(args: tuple) -> dict:
    return generate_patient(*args)


def generate_cohort(out: Path, n_patients: int = DEFAULT_PATIENTS, seed: int = 0, signal: float = 1.0,
                    modality: str = "both", size: str = "default", workers: int | None = None,
                    progress: bool = True) -> dict:
    """Write a synthetic cohort to ``out`` (must not exist or be empty); returns cohort.json's content.

    ``workers``: processes (default: all cores); 1 runs in this process. Deterministic for ``seed``:
    the files are byte-identical whatever ``workers``.
    """
    out = Path(out)
    if modality not in MODALITIES:
        raise InputError("--modality", f"must be one of {MODALITIES}, got {modality!r}")
    if size not in SIZES:
        raise InputError("--size", f"must be one of {SIZES}, got {size!r}")
    from hccrisk.synth.ceus import LAYOUTS

    if modality != "mri" and size not in LAYOUTS:  # the small preset is the MRI writer's only
        raise InputError("--size", f"the CEUS writer has no {size!r} preset (it has {sorted(LAYOUTS)}): "
                                   f"use --modality mri with --size {size}")
    if n_patients < 1:
        raise InputError("--patients", f"must be >= 1, got {n_patients}")
    if signal < 0:
        raise InputError("--signal", f"must be >= 0, got {signal}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "exists and is not an empty folder; choose a new output folder")
    out.mkdir(parents=True, exist_ok=True)

    with_mri = modality in ("mri", "both") and mri_writer() is not None
    patients = draw_latents(n_patients, seed, signal)
    second = observer2_subset(n_patients, seed)
    jobs = [(p, out, modality, size, p.index in second, with_mri) for p in patients]
    workers = max(1, min(workers or os.cpu_count() or 1, n_patients))
    bar = tqdm(total=n_patients, desc="synth", unit="patient", disable=not progress)
    results = []
    if workers == 1:
        for job in jobs:
            results.append(_job(job))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_job, jobs, chunksize=1):
                results.append(res)
                bar.update()
    bar.close()
    results.sort(key=lambda r: r["index"])

    write_rows(out / "clinical.csv", [r["clinical"] for r in results], clinical.CLINICAL_COLUMNS)
    write_rows(out / "outcomes.csv", [r["outcomes"] for r in results], outcomes.OUTCOME_COLUMNS)
    truth_rows = [r["truth"] for r in results]
    columns = list(dict.fromkeys(k for row in truth_rows for k in row))
    write_rows(out / "truth.csv", [{c: row.get(c) for c in columns} for row in truth_rows], columns)
    meta = {
        "seed": seed,
        "signal": signal,
        "modality": modality,
        "mri_written": with_mri,
        "size": size,
        "n_patients": n_patients,
        "hccrisk_version": __version__,
        "n_dicom_files": sum(r["files"] for r in results),
        "observer2_patients": sorted(patients[i].patient_id for i in second),
        "ceus_time_origin": "t = 0 at the first frame of the first clip, unless ContrastBolusStartTime "
                            "is present (vendor C: recording starts 3 s before injection)",
        "generator": {
            "hazard_model": dataclasses.asdict(outcomes.MODEL),
            "clinical_missing_rate": clinical.MISSING_RATE,
            "ceus_layouts": {k: dataclasses.asdict(v) for k, v in ceus.LAYOUTS.items()},
            "ceus_vendors": {k: {"colour": v.colour, "dual_display": v.dual, "transfer_syntax": v.transfer,
                                 "fps": v.fps, "first_clip_s": v.first_clip_s,
                                 "frame_time_vector": v.frame_time_vector,
                                 "pre_injection_s": v.pre_injection_s}
                             for k, v in ceus.VENDORS.items()},
        },
    }
    (out / "cohort.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta
