"""The ingest pipeline and CLI: outputs, manifest, problems, re-runs, parallel patients, and every bad
input named with its file while the other patients go on."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid
from typer.testing import CliRunner

from hccrisk.ingest.pipeline import ingest
from hccrisk.log import pseudonym

from .builders import INJECTION, write_ceus_study, write_mr_slice, write_us_clip

SHORT = ((0.0, 2.0, 250),)  # one 2 fps clip, 0-124.5 s: reaches every phase, cheap to build


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _good(root: Path, pid: str = "GOOD1") -> list[Path]:
    return write_ceus_study(root / pid, patient_id=pid, clips=SHORT)


def _problem_for(out: Path, name: str) -> str:
    rows = [r for r in _rows(out / "problems.csv") if r["path"].endswith(name)]
    assert rows, f"no problem row for {name}: {_rows(out / 'problems.csv')}"
    return rows[0]["problem"]


def _assert_good_done(out: Path, pid: str = "GOOD1") -> None:
    assert (out / pid / "ceus.npz").exists() and (out / pid / "ceus.json").exists()


def test_pipeline_writes_outputs_manifest_and_skips_done_patients(tmp_path, caplog):
    _good(tmp_path / "in", "GOOD1")
    _good(tmp_path / "in", "GOOD2")
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="hccrisk"):
        result = ingest(tmp_path / "in", out, workers=1, progress=False)
    assert (result.n_patients, result.n_done, result.n_failed) == (2, 2, 0)
    manifest = _rows(out / "manifest.csv")
    assert [(r["patient_id"], r["role"], r["used"]) for r in manifest] == [("GOOD1", "ceus", "1"),
                                                                         ("GOOD2", "ceus", "1")]
    assert _rows(out / "problems.csv") == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GOOD1" not in logged  # no patient ID in clear in the logs
    stamp = (out / "GOOD1" / "ceus.npz").stat().st_mtime_ns
    again = ingest(tmp_path / "in", out, workers=1, progress=False)
    assert (again.n_skipped, again.n_done) == (2, 0)
    assert (out / "GOOD1" / "ceus.npz").stat().st_mtime_ns == stamp
    assert _rows(out / "manifest.csv") == manifest  # the full manifest, rebuilt from the markers
    forced = ingest(tmp_path / "in", out, workers=1, force=True, progress=False)
    assert forced.n_done == 2


def test_parallel_workers_give_the_same_arrays(tmp_path):
    for pid in ("A1", "A2", "A3"):
        _good(tmp_path / "in", pid)
    ingest(tmp_path / "in", tmp_path / "serial", workers=1, progress=False)
    result = ingest(tmp_path / "in", tmp_path / "par", workers=2, progress=False)
    assert result.n_done == 3
    for pid in ("A1", "A2", "A3"):
        a, b = np.load(tmp_path / "serial" / pid / "ceus.npz"), np.load(tmp_path / "par" / pid / "ceus.npz")
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_non_dicom_and_truncated_files(tmp_path):
    _good(tmp_path / "in")
    bad = write_ceus_study(tmp_path / "in" / "BAD", patient_id="BAD", clips=SHORT)[0]
    (tmp_path / "in" / "README.txt").write_text("exported by PACS")
    data = bad.read_bytes()
    (tmp_path / "in" / "BAD" / "cut.dcm").write_bytes(data[: len(data) // 2])
    bad.unlink()
    jpeg = write_ceus_study(tmp_path / "jp", patient_id="JP", clips=SHORT, jpeg=True)[0]
    raw = jpeg.read_bytes()
    (tmp_path / "in" / "jpeg_trunc.dcm").write_bytes(raw[: len(raw) - 3000])
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    assert _problem_for(out, "README.txt").startswith("not a DICOM file")
    assert "truncated file: pixel data needs" in _problem_for(out, "cut.dcm")
    assert "truncated file" in _problem_for(out, "jpeg_trunc.dcm")


def test_clip_without_frame_timing(tmp_path):
    _good(tmp_path / "in")
    path = write_us_clip(tmp_path / "in" / "notime.dcm", patient_id="NOTIME", n_frames=300,
                         frame_time_ms=None)
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    assert _problem_for(out, path.name).startswith("no frame timing")
    row = [r for r in _rows(out / "manifest.csv") if r["patient_id"] == "NOTIME"][0]
    assert row["used"] == "0" and "ingest failed" in row["reason"]


def test_cine_shorter_than_the_phases_need(tmp_path):
    _good(tmp_path / "in")
    path = write_us_clip(tmp_path / "in" / "short.dcm", patient_id="SHORT", n_frames=200,
                         frame_time_ms=100.0)
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    problem = _problem_for(out, path.name)
    assert "cine shorter than the phases need" in problem and "portal (30, 120] s" in problem


def test_inconsistent_geometry_between_clips(tmp_path):
    _good(tmp_path / "in")
    study, series = generate_uid(), generate_uid()
    write_us_clip(tmp_path / "in" / "g1.dcm", patient_id="GEO", study_uid=study, series_uid=series,
                  n_frames=100, frame_time_ms=500.0)
    second = write_us_clip(tmp_path / "in" / "g2.dcm", patient_id="GEO", study_uid=study,
                           series_uid=series, n_frames=100, frame_time_ms=500.0,
                           start=INJECTION + timedelta(seconds=60),
                           regions=((10, 12, 70, 72), (100, 12, 150, 60)))
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    assert _problem_for(out, second.name).startswith("inconsistent geometry: ultrasound regions")


def test_unreadable_transfer_syntax(tmp_path):
    _good(tmp_path / "in")
    path = write_ceus_study(tmp_path / "in" / "MPEG", patient_id="MPEG", clips=SHORT, jpeg=True)[0]
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: pydicom has no decoder
    ds.save_as(path)
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    assert _problem_for(out, path.name).startswith("unreadable transfer syntax MPEG2")


def test_missing_mri_arterial_phase(tmp_path):
    _good(tmp_path / "in")
    for desc, sec in (("T1 PVP", 70), ("T1 DELAY", 180)):
        uid = generate_uid()
        write_mr_slice(tmp_path / "in" / "MRI" / uid, patient_id="MR1", series_uid=uid, description=desc,
                       acquired=INJECTION + timedelta(seconds=sec))
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    problem = [r for r in _rows(out / "problems.csv") if r["patient_id"] == "MR1"][0]
    assert problem["path"] == "patient MR1 MRI" and problem["problem"].startswith("missing phase AP")
    rows = [r for r in _rows(out / "manifest.csv") if r["patient_id"] == "MR1"]
    assert {(r["role"], r["used"]) for r in rows} == {("mri:PVP", "0"), ("mri:DP", "0")}
    assert not (out / "MR1" / "mri").exists()


def test_cli_ingest_options_and_bad_option(tmp_path):
    from hccrisk.cli import _register, app

    _register()
    _good(tmp_path / "in")
    runner = CliRunner()
    res = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                              "--contrast-region", "left", "--injection-time=-1.5s", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "1 patients: 1 ingested" in res.output
    z = np.load(tmp_path / "out" / "GOOD1" / "ceus.npz")
    assert z["region_origin"].tolist() == [10, 12]  # left region
    assert z["valid"][z["times"] < 1.5].sum() == 0 and z["valid"][3]
    res = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "o2"),
                              "--contrast-region", "middle"])
    assert res.exit_code == 2 and "--contrast-region: 'middle' is not auto" in res.output
    res = runner.invoke(app, ["ingest", str(tmp_path / "nothing"), "--out", str(tmp_path / "o3")])
    assert res.exit_code == 2 and "no such file or folder" in res.output


def test_patient_id_never_logged_even_in_problem_paths(tmp_path, caplog):
    pid = "ID-4711"
    write_us_clip(tmp_path / "in" / pid / "x.dcm", patient_id=pid, n_frames=20, frame_time_ms=None)
    with caplog.at_level(logging.DEBUG, logger="hccrisk"):
        ingest(tmp_path / "in", tmp_path / "out", workers=1, progress=False)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert pseudonym(pid) in logged and pid not in logged
    shutil.rmtree(tmp_path / "in")


def test_cli_per_patient_injection_table(tmp_path):
    from hccrisk.cli import _register, app

    _register()
    _good(tmp_path / "in", "GOOD1")
    _good(tmp_path / "in", "GOOD2")
    table = tmp_path / "inj.csv"
    table.write_text("patient_id,injection_time\nGOOD1,-3s\nGOOD2,\n")
    res = CliRunner().invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                   "--injection-time", str(table), "--workers", "1"])
    assert res.exit_code == 0, res.output
    one = json.loads((tmp_path / "out" / "GOOD1" / "ceus.json").read_text())["injection"]["source"]
    two = json.loads((tmp_path / "out" / "GOOD2" / "ceus.json").read_text())["injection"]["source"]
    assert one == "--injection-time (-3 s from the first frame)" and two == "first frame of the first clip"
    table.write_text("patient_id,injection_time\nGOOD1,soon\n")
    res = CliRunner().invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "o2"),
                                   "--injection-time", str(table)])
    assert res.exit_code == 2 and "inj.csv line 2: 'soon' is neither" in res.output


def test_palette_colour_clip_is_refused_by_name(tmp_path):
    _good(tmp_path / "in")
    path = write_us_clip(tmp_path / "in" / "pal.dcm", patient_id="PAL", n_frames=300, frame_time_ms=500.0)
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.save_as(path)
    out = tmp_path / "out"
    ingest(tmp_path / "in", out, workers=1, progress=False)
    _assert_good_done(out)
    assert _problem_for(out, "pal.dcm").startswith("unsupported Photometric Interpretation 'PALETTE COLOR'")


def test_output_folder_inside_the_dicom_folder_is_not_scanned(tmp_path):
    _good(tmp_path / "in")
    ingest(tmp_path / "in", tmp_path / "in" / "ingested", workers=1, progress=False)
    again = ingest(tmp_path / "in", tmp_path / "in" / "ingested", workers=1, force=True, progress=False)
    assert (again.n_done, again.n_problems) == (1, 0)
