"""Scanning any folder layout and the series selection rules (hccrisk.dicom.scan, hccrisk.dicom.select)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydicom.uid import generate_uid

from hccrisk.dicom.scan import scan
from hccrisk.dicom.select import phase_by_keyword, select_ceus, select_mri

from .builders import INJECTION, write_mr_slice, write_us_clip


def test_scan_finds_nested_and_flat_files_and_reports_the_rest(tmp_path):
    write_us_clip(tmp_path / "a" / "b" / "c" / "IM0001", n_frames=5, series_uid="1.2.3.4.5")
    write_us_clip(tmp_path / "XYZ", n_frames=5, patient_id="P002", series_uid="1.2.3.4.6")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "copy").write_bytes((tmp_path / "XYZ").read_bytes())
    found = scan(tmp_path)
    assert sorted(i.patient_id for i in found.instances) == ["P001", "P002"]
    problems = {e.where.rsplit("/", 1)[-1]: e.problem for e in found.errors}
    assert problems["notes.txt"].startswith("not a DICOM file")
    assert "duplicate SOPInstanceUID" in problems["copy"]
    grouped = found.by_patient()
    assert list(grouped) == ["P001", "P002"]
    assert grouped["P001"][0].instances[0].n_frames == 5


def test_scan_of_a_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(Exception, match="no such file or folder"):
        scan(tmp_path / "nope")


@pytest.mark.parametrize("description,phase", [
    ("T1_VIBE_FS_ART_30s", "AP"), ("Ax LAVA Arterial", "AP"), ("eTHRIVE late arterial", "AP"),
    ("HAP", "AP"), ("t1_fl3d_PVP", "PVP"), ("Portal Venous 70s", "PVP"), ("AX DYN PH2", "PVP"),
    ("VIBE DELAY 3min", "DP"), ("Equilibrium", "DP"), ("LAVA 3 min", "DP"), ("T2 HASTE", "T2"),
    ("Ax T2 FS BLADE", "T2"), ("SSFSE T2", "T2"), ("t1_vibe_fs_tra_pv", "PVP"), ("T2W_SPAIR", "T2"),
    ("Ax T2 FRFSE FS", "T2"), ("e-THRIVE DELAY 3min", "DP"), ("AX DYN 180s", "DP"),
    ("t1_vibe_fs_tra_dyn_3min", "DP"), ("Ax LAVA-Flex ART", "AP"),
    ("T1 pre", None), ("Localizer", None), ("Ax T2* GRE", None), ("DWI b800", None),
    ("VIBE DIXON ART F", None), ("MAP", None), ("ART PVP", None),
])
def test_phase_keywords_across_vendors(description, phase):
    assert phase_by_keyword(description)[0] == phase


def _mr_series(tmp_path, desc, seconds, bolus=None, patient="P001"):
    uid = generate_uid()
    write_mr_slice(tmp_path / uid / "1.dcm", patient_id=patient, series_uid=uid, description=desc,
                   acquired=INJECTION + timedelta(seconds=seconds), bolus_start=bolus)
    return uid


def test_mri_selection_by_keyword_then_by_timing_after_injection(tmp_path):
    uids = {
        "T2": _mr_series(tmp_path, "T2 TSE", -600),
        "pre": _mr_series(tmp_path, "t1 vibe dyn", -60, INJECTION),
        "AP": _mr_series(tmp_path, "t1 vibe dyn", 25, INJECTION),
        "PVP": _mr_series(tmp_path, "t1 vibe dyn", 70, INJECTION),
        "DP": _mr_series(tmp_path, "t1 vibe dyn", 180, INJECTION),
        "loc": _mr_series(tmp_path, "localizer", -900),
    }
    chosen, decisions = select_mri(scan(tmp_path).by_patient()["P001"])
    assert {p: s.series_uid for p, s in chosen.items()} == {k: uids[k] for k in ("T2", "AP", "PVP", "DP")}
    why = {d.series.series_uid: d.reason for d in decisions}
    assert "25 s after injection" in why[uids["AP"]]
    assert "no phase window" in why[uids["pre"]]
    assert "localizer" in why[uids["loc"]] or "loc" in why[uids["loc"]]


def test_mri_selection_by_order_without_injection_time(tmp_path):
    uids = [_mr_series(tmp_path, "LAVA", s) for s in (-60, 20, 60, 200)]
    chosen, decisions = select_mri(scan(tmp_path).by_patient()["P001"])
    assert [chosen[p].series_uid for p in ("AP", "PVP", "DP")] == uids[1:]
    assert "pre-contrast" in {d.series.series_uid: d.reason for d in decisions}[uids[0]]


def test_repeated_phase_keeps_the_later_series(tmp_path):
    first = _mr_series(tmp_path, "ART", 20)
    again = _mr_series(tmp_path, "ART", 45)
    chosen, decisions = select_mri(scan(tmp_path).by_patient()["P001"])
    assert chosen["AP"].series_uid == again
    assert "ranks first" in {d.series.series_uid: d.reason for d in decisions}[first]


def test_unnamed_series_placed_relative_to_a_named_phase_and_keyword_beats_timing(tmp_path):
    ap = _mr_series(tmp_path, "LAVA ART", 30)
    pvp = _mr_series(tmp_path, "LAVA dyn", 72)  # no phase name, no bolus time: 42 s after the AP
    dp = _mr_series(tmp_path, "ART PVP", 200)  # ambiguous name: placed by timing
    late_ap = _mr_series(tmp_path, "LAVA dyn", 35)  # timing says AP, but the named AP wins
    chosen, decisions = select_mri(scan(tmp_path).by_patient()["P001"])
    assert [chosen[p].series_uid for p in ("AP", "PVP", "DP")] == [ap, pvp, dp]
    why = {d.series.series_uid: d.reason for d in decisions}
    assert "estimated from the AP series" in why[pvp]
    assert "ranks first" in why[late_ap]


def test_ceus_selection_prefers_contrast_cines_and_skips_stills(tmp_path):
    write_us_clip(tmp_path / "ceus.dcm", n_frames=5, series_uid="1.9.1")
    write_us_clip(tmp_path / "still.dcm", n_frames=1, series_uid="1.9.2")
    plain = write_us_clip(tmp_path / "plain.dcm", n_frames=5, series_uid="1.9.3", description="B-mode")
    import pydicom

    ds = pydicom.dcmread(plain)
    del ds.ContrastBolusAgent
    ds.save_as(plain)
    chosen, decisions = select_ceus(scan(tmp_path).by_patient()["P001"])
    assert [s.series_uid for s in chosen] == ["1.9.1"]
    why = {d.series.series_uid: d.reason for d in decisions}
    assert why["1.9.2"] == "single-frame US images, not a cine"
    assert "without contrast" in why["1.9.3"]


def test_dicomdir_is_an_index_not_an_image(tmp_path):
    import pydicom
    from pydicom.fileset import FileSet

    src = write_us_clip(tmp_path / "src.dcm", n_frames=5, series_uid="1.9.7")
    ds = pydicom.dcmread(src)
    ds.StudyTime, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "103000", "1", 1, 1
    fs = FileSet()
    fs.add(ds)
    fs.write(tmp_path / "media")
    assert (tmp_path / "media" / "DICOMDIR").exists()
    found = scan(tmp_path / "media")
    assert [i.series_uid for i in found.instances] == ["1.9.7"] and found.errors == []
