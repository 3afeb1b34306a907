"""scan -> select -> preprocess -> per-patient outputs, manifest.csv and problems.csv.

Patients run in parallel worker processes. A patient's failure is recorded and never loses the
others; each finished patient gets ``<patient>/ingest.json`` (its manifest rows, problems, status),
written last, so a re-run skips patients already done (unless ``force``) and still writes the full
manifest.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from hccrisk import __version__
from hccrisk.dicom.scan import Series, scan
from hccrisk.dicom.select import MRI_PHASES, Decision, select_ceus, select_mri
from hccrisk.errors import InputError, MissingDataError
from hccrisk.ingest.manifest import (MANIFEST_COLUMNS, PROBLEM_COLUMNS, decision_row, problem_row,
                                     write_csv)
from hccrisk.log import get_logger, pseudonym
from hccrisk.preprocess.ceus import Injection

log = get_logger(__name__)
MARKER = "ingest.json"
REQUIRED_MRI_PHASES = ("AP", "PVP", "DP")  # the papers' contrast phases; T2 (chen2025 only) is optional


@dataclass(frozen=True)
class IngestOptions:
    """User choices that apply to every patient."""

    injection: Injection | None = None
    contrast_region: str = "auto"
    injection_by_patient: dict[str, Injection] = field(default_factory=dict)  # wins over `injection`

    def injection_for(self, patient_id: str) -> Injection | None:
        return self.injection_by_patient.get(patient_id, self.injection)


@dataclass
class PatientOutcome:
    """What one patient's ingest produced (plain data: it crosses process boundaries)."""

    patient_id: str
    status: str  # "done" (every selected part written) or "failed"
    manifest: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IngestResult:
    """Counts of one run and where its tables are."""

    n_patients: int
    n_done: int
    n_skipped: int
    n_failed: int
    n_problems: int
    manifest_path: Path
    problems_path: Path


def patient_dir_name(patient_id: str) -> str:
    """A folder name for a PatientID (characters outside [A-Za-z0-9._-] become '_')."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", patient_id.strip()) or "UNKNOWN"
    return "_" + name if name in (".", "..") else name


def _redact(text: str, patient_id: str) -> str:
    return text.replace(patient_id, pseudonym(patient_id)) if patient_id else text


def ingest_patient(patient_id: str, series: list[Series], out_dir: Path,
                   options: IngestOptions) -> PatientOutcome:
    """Select and preprocess one patient's series into ``out_dir`` (the patient's folder)."""
    outcome = PatientOutcome(patient_id, "done")
    alias = pseudonym(patient_id)
    decisions: dict[str, Decision] = {}
    ceus_series, ceus_decisions = select_ceus(series)
    mri_phases, mri_decisions = select_mri(series, injection=None)
    for d in ceus_decisions + mri_decisions:
        decisions[d.series.series_uid] = d
    for s in series:
        if s.series_uid not in decisions:
            decisions[s.series_uid] = Decision(s, "", False, f"modality {s.modality or '?'} not used")

    def fail(error: BaseException, role_prefix: str) -> None:
        outcome.status = "failed"
        outcome.problems.append(problem_row(patient_id, error))
        log.warning("%s: %s", alias, _redact(str(error), patient_id))
        for uid, d in decisions.items():
            if d.used and d.role.startswith(role_prefix):
                decisions[uid] = Decision(d.series, d.role, False,
                                          f"{d.reason}; selected, but ingest failed: {error}")

    if ceus_series:
        paths = [i.path for s in ceus_series for i in s.instances if i.n_frames > 1]
        bolus = next((i.bolus_start for s in ceus_series for i in s.instances if i.bolus_start), None)
        try:
            from hccrisk.preprocess.ceus import ingest_ceus

            ingest_ceus(paths, out_dir, options.injection_for(patient_id), options.contrast_region,
                        bolus_start=bolus)
            outcome.outputs += ["ceus.npz", "ceus.json"]
        except InputError as exc:
            fail(exc, "ceus")
    if any(s.modality == "MR" for s in series):
        try:
            summary = _ingest_mri(patient_id, mri_phases, out_dir)
            outcome.outputs.append("mri/mri.json")
            for phase in [p for p in REQUIRED_MRI_PHASES if p not in mri_phases]:
                outcome.problems.append(problem_row(patient_id, MissingDataError(
                    f"patient {patient_id} MRI", f"missing phase {phase}: no MR series matched by "
                                                 "description or timing; the other phases were ingested")))
            for phase, record in summary.get("phases", {}).items():
                if record.get("status") == "error" and phase in mri_phases:
                    uid = mri_phases[phase].series_uid
                    d = decisions[uid]
                    decisions[uid] = Decision(d.series, d.role, False, f"{d.reason}; selected, but "
                                                                       f"ingest failed: {record.get('problem')}")
            for item in summary.get("problems", []):
                outcome.problems.append({"patient_id": patient_id, "path": item.get("where", ""),
                                         "problem": item.get("problem", "")})
        except InputError as exc:
            fail(exc, "mri")
    try:  # readings stored in the PACS by the MONAI Label app (SEG, box SR) -> rois/<observer>/
        from hccrisk.roi.io import write_observer_rois

        outcome.outputs += [str(p.relative_to(out_dir)) for p in write_observer_rois(series, out_dir, mri_phases)]
    except InputError as exc:  # a bad reading is a problem of its own; the images stay ingested
        outcome.problems.append(problem_row(patient_id, exc))
    if not ceus_series and not mri_phases and outcome.status == "done":
        fail(MissingDataError(patient_id, "no CEUS cine and no MRI phase found among "
                                          f"{len(series)} series"), "")
    outcome.manifest = [decision_row(decisions[s.series_uid]) for s in series]
    return outcome


def _ingest_mri(patient_id: str, phases: dict[str, Series], out_dir: Path) -> dict:
    """Hand the selected series to hccrisk.preprocess.mri; AP (the registration reference) is required."""
    if "AP" not in phases:
        raise MissingDataError(f"patient {patient_id} MRI", "missing phase AP: no MR series matched by "
                                                            "description or timing (AP is the registration "
                                                            "reference, so no MRI phase was ingested)")
    try:
        from hccrisk.preprocess.mri import ingest_mri
    except ImportError as exc:
        raise InputError(f"patient {patient_id} MRI", f"MRI preprocessing is not available ({exc})") \
            from None
    phase_files = {p: [i.path for i in phases[p].instances] for p in MRI_PHASES if p in phases}
    return ingest_mri(phase_files, out_dir)


def _one_thread_per_worker() -> None:
    """Workers share the cores: ITK in each uses one thread instead of competing for all of them."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def _run_one(patient_id: str, series: list[Series], out_dir: Path,
             options: IngestOptions) -> PatientOutcome:
    """ingest_patient, with any unexpected error turned into a problem row, then the marker written."""
    try:
        outcome = ingest_patient(patient_id, series, out_dir, options)
    except Exception as exc:  # a bug or an unforeseen input must not lose the other patients
        log.error("%s: internal error: %s", pseudonym(patient_id),
                  _redact(traceback.format_exc(), patient_id))
        outcome = PatientOutcome(patient_id, "failed", problems=[problem_row(patient_id, exc)],
                                 manifest=[decision_row(Decision(s, "", False, "patient ingest failed"))
                                           for s in series])
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = {"hccrisk_version": __version__, "written": datetime.now().isoformat(timespec="seconds"),
              **asdict(outcome)}
    tmp = out_dir / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=1, default=str))
    os.replace(tmp, out_dir / MARKER)
    return outcome


def _load_done(out_dir: Path) -> PatientOutcome | None:
    try:
        data = json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if data.get("status") != "done":
        return None
    return PatientOutcome(data["patient_id"], "done", data.get("manifest", []), data.get("problems", []),
                          data.get("outputs", []))


def ingest(dicom_dir: Path | str, out_dir: Path | str, options: IngestOptions | None = None,
           workers: int | None = None, force: bool = False, progress: bool = True) -> IngestResult:
    """Ingest every patient found under ``dicom_dir`` into ``out_dir``.

    ``workers``: parallel processes (None or 0: all cores; 1: in this process). Returns counts;
    manifest.csv and problems.csv are written even when every patient fails.
    """
    options = options or IngestOptions()
    dicom_dir, out_dir = Path(dicom_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    found = scan(dicom_dir, skip=out_dir)
    problems = [problem_row("", e) for e in found.errors]
    patients = found.by_patient()
    log.info("scanned %s: %d DICOM instances of %d patients, %d unusable files", dicom_dir,
             len(found.instances), len(patients), len(found.errors))
    outcomes: dict[str, PatientOutcome] = {}
    todo = []
    for pid, series in patients.items():
        previous = None if force else _load_done(out_dir / patient_dir_name(pid))
        if previous is not None and previous.patient_id == pid:
            outcomes[pid] = previous
        else:
            todo.append(pid)
    n_skipped = len(outcomes)
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(todo), desc="ingest", unit="patient", disable=not progress)
    if workers == 1 or len(todo) <= 1:
        for pid in todo:
            outcomes[pid] = _run_one(pid, patients[pid], out_dir / patient_dir_name(pid), options)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), initializer=_one_thread_per_worker) as pool:
            futures = {pool.submit(_run_one, pid, patients[pid], out_dir / patient_dir_name(pid),
                                   options): pid for pid in todo}
            for fut in as_completed(futures):
                pid = futures[fut]
                try:
                    outcomes[pid] = fut.result()
                except Exception as exc:  # the worker process itself died (memory, signal)
                    outcomes[pid] = PatientOutcome(pid, "failed", problems=[problem_row(pid, exc)])
                    log.error("%s: worker failed: %s", pseudonym(pid), type(exc).__name__)
                bar.update()
    bar.close()

    manifest, n_failed = [], 0
    for pid in patients:
        manifest += outcomes[pid].manifest
        problems += outcomes[pid].problems
        n_failed += outcomes[pid].status != "done"
    manifest_path, problems_path = out_dir / "manifest.csv", out_dir / "problems.csv"
    write_csv(manifest_path, manifest, MANIFEST_COLUMNS)
    write_csv(problems_path, problems, PROBLEM_COLUMNS)
    result = IngestResult(len(patients), len(patients) - n_failed - n_skipped, n_skipped, n_failed,
                          len(problems), manifest_path, problems_path)
    log.info("ingest: %d patients, %d done now, %d already done, %d failed, %d problems (see %s)",
             result.n_patients, result.n_done, result.n_skipped, result.n_failed, result.n_problems,
             problems_path)
    return result
