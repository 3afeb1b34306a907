"""extract_cohort(): parallel equals serial, the cache, failures reported while the rest go on, row/column order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hccrisk.errors import InputError
from hccrisk.log import pseudonym
from hccrisk.radiomics import PARAMS_DIR, Case, cohort, extract, extract_cohort
from tests.radiomics.images import disc_frame, sphere_case, write_case


def frame_cases(folder: Path, n: int, empty: set[int] = frozenset()) -> list[Case]:
    """n CEUS-like frames on disk, case ids C0..; the ones in `empty` get an empty mask."""
    cases = []
    for i in range(n):
        image, mask = disc_frame(seed=i, radius=20 + 2 * i)
        paths = write_case(folder, f"c{i}", image, mask * 0 if i in empty else mask)
        cases.append(Case(f"C{i}", *paths))
    return cases


def cache_state(cache: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in cache.glob("*.json")}


def test_cohort_rows_equal_single_extractions_and_cache_hit_does_no_extraction(tmp_path):
    cases = frame_cases(tmp_path / "img", 3)
    cache = tmp_path / "cache"
    first, failures = extract_cohort(cases, "huang2022_ceus2d", cache, workers=1, progress=False)
    assert failures.empty and list(first.index) == ["C0", "C1", "C2"]
    assert first.attrs["attempted"] == 3 and first.attrs["from_cache"] == 0
    for case in cases:
        single = extract(sitk.ReadImage(str(case.image)), sitk.ReadImage(str(case.mask)), "huang2022_ceus2d")
        pd.testing.assert_series_equal(first.loc[case.case_id], single, check_names=False)
    written = cache_state(cache)
    assert len(written) == 3

    again, _ = extract_cohort(cases, "huang2022_ceus2d", cache, workers=1, progress=False)
    assert again.attrs["attempted"] == 0 and again.attrs["from_cache"] == 3
    assert cache_state(cache) == written  # nothing rewritten
    pd.testing.assert_frame_equal(again, first)


def test_changed_input_or_parameter_file_re_extracts_what_it_touches(tmp_path):
    cases = frame_cases(tmp_path / "img", 3)
    cache = tmp_path / "cache"
    first, _ = extract_cohort(cases, "huang2022_ceus2d", cache, workers=1, progress=False)

    image, mask = disc_frame(seed=99)  # C1 gets a new image
    write_case(tmp_path / "img", "c1", image, mask)
    changed, _ = extract_cohort(cases, "huang2022_ceus2d", cache, workers=1, progress=False)
    assert changed.attrs["attempted"] == 1 and changed.attrs["from_cache"] == 2
    assert not np.allclose(changed.loc["C1"], first.loc["C1"])
    pd.testing.assert_series_equal(changed.loc["C0"], first.loc["C0"])

    edited = tmp_path / "edited.yaml"  # same settings, other bytes: a new parameter file version
    edited.write_text((PARAMS_DIR / "huang2022_ceus2d.yaml").read_text() + "\n# edited\n")
    rerun, _ = extract_cohort(cases, edited, cache, workers=1, progress=False)
    assert rerun.attrs["attempted"] == 3
    pd.testing.assert_frame_equal(rerun, changed, check_like=False)
    coarser = tmp_path / "coarser.yaml"
    coarser.write_text((PARAMS_DIR / "huang2022_ceus2d.yaml").read_text().replace("binWidth: 5 ", "binWidth: 25 "))
    coarse, _ = extract_cohort(cases, coarser, cache, workers=1, progress=False)
    assert coarse.attrs["attempted"] == 3
    assert not np.allclose(coarse["original_glcm_Contrast"], changed["original_glcm_Contrast"])


def test_parallel_run_reports_failures_and_keeps_the_rest(tmp_path):
    cases = frame_cases(tmp_path / "img", 5, empty={1})
    cases.append(Case("C9", tmp_path / "missing.nii.gz", cases[0].mask))
    cache = tmp_path / "cache"
    parallel, failures = extract_cohort(cases, "huang2022_ceus2d", cache, workers=2, progress=False)
    assert list(parallel.index) == ["C0", "C2", "C3", "C4"]
    assert failures["case_id"].tolist() == ["C1", "C9"]
    assert "case C1: mask is empty" in failures["error"].iloc[0]
    assert "case C9: cannot read" in failures["error"].iloc[1] and "missing.nii.gz" in failures["error"].iloc[1]
    assert parallel.attrs["failed"] == 2 and parallel.attrs["extracted"] == 4
    assert len(cache_state(cache)) == 4  # the finished cases are kept

    serial, _ = extract_cohort(cases, "huang2022_ceus2d", tmp_path / "cache-serial", workers=1, progress=False)
    pd.testing.assert_frame_equal(parallel, serial)  # same values, same row and column order


def test_phases_form_one_row_with_prefixed_columns(tmp_path):
    cases = []
    for pid, seed in (("P2", 2), ("P1", 1)):
        for phase in ("PVP", "AP"):
            image, mask = sphere_case(seed=seed + (phase == "AP"), shape=(16, 28, 28), radius=5)
            cases.append(Case(pid, *write_case(tmp_path / pid, phase, image, mask), prefix=phase))
    table, failures = extract_cohort(cases, "zhao2024_mri", tmp_path / "cache", workers=1, progress=False)
    assert failures.empty and list(table.index) == ["P2", "P1"]
    assert table.shape == (2, 2 * 1037)
    assert table.columns[0].startswith("PVP_original_") and table.columns[1037].startswith("AP_original_")
    one = extract(*(sitk.ReadImage(str(p)) for p in (cases[1].image, cases[1].mask)), "zhao2024_mri")
    assert table.loc["P2", "AP_original_glcm_Contrast"] == one["original_glcm_Contrast"]


def test_one_failed_phase_drops_the_case_row_but_not_its_cache(tmp_path):
    image, mask = disc_frame(seed=0)
    good = write_case(tmp_path, "good", image, mask)
    bad = write_case(tmp_path, "bad", image, mask * 0)
    cases = [Case("A", *good, prefix="grey"), Case("A", *bad, prefix="ceus"), Case("B", *good, prefix="grey"),
             Case("B", *good, prefix="ceus")]
    table, failures = extract_cohort(cases, "huang2022_ceus2d", tmp_path / "cache", workers=1, progress=False)
    assert list(table.index) == ["B"] and failures[["case_id", "prefix"]].values.tolist() == [["A", "ceus"]]
    assert table.attrs["attempted"] == 2  # same files, same key: the good frame is extracted once for 3 cases
    assert table.notna().all().all()
    assert (table.loc["B"].filter(like="grey_").to_numpy() == table.loc["B"].filter(like="ceus_").to_numpy()).all()
    again, failures = extract_cohort(cases, "huang2022_ceus2d", tmp_path / "cache", workers=1, progress=False)
    assert again.attrs["from_cache"] == 3 and again.attrs["attempted"] == 1  # the failed one is tried again
    assert "case A ceus: mask is empty" in failures["error"].iloc[0]


def test_duplicate_case_is_an_input_error(tmp_path):
    image, mask = disc_frame()
    paths = write_case(tmp_path, "f", image, mask)
    with pytest.raises(InputError, match="case X AP: listed twice"):
        extract_cohort([Case("X", *paths, prefix="AP"), Case("X", *paths, prefix="AP")], "huang2022_ceus2d",
                       tmp_path / "cache", workers=1, progress=False)


def _crash_on_c1(case: Case, params: Path):
    """Worker job for the test below: the real extraction, except that C1's process dies (as a segfault would)."""
    if case.case_id == "C1":
        os._exit(3)
    return cohort._extract_case(case, params)


def test_a_dying_worker_process_fails_only_its_own_case(tmp_path):
    cases = frame_cases(tmp_path / "img", 4)
    results, errors = {}, {}

    def finished(index, features, error):
        (results if error is None else errors)[index] = features if error is None else error

    cohort._run_pool(cases, dict.fromkeys(range(4), tmp_path), PARAMS_DIR / "huang2022_ceus2d.yaml", 2, finished,
                     job=_crash_on_c1)
    assert sorted(results) == [0, 2, 3] and list(errors) == [1]
    assert "case C1: the worker process died during this extraction" in errors[1]
    single = extract(sitk.ReadImage(str(cases[2].image)), sitk.ReadImage(str(cases[2].mask)), "huang2022_ceus2d")
    assert results[2] == single.to_dict()


def test_unguarded_script_gets_a_clear_error_instead_of_failing_every_case(tmp_path):
    # spawned workers import the main script again; without a __main__ guard they die at start-up
    paths = [write_case(tmp_path, f"f{i}", *disc_frame(seed=i)) for i in range(2)]  # 2 keys: 2 workers
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from hccrisk.radiomics import Case, extract_cohort\n"
        f"cases = [Case('A', {str(paths[0][0])!r}, {str(paths[0][1])!r}), "
        f"Case('B', {str(paths[1][0])!r}, {str(paths[1][1])!r})]\n"
        f"extract_cohort(cases, 'huang2022_ceus2d', {str(tmp_path / 'cache')!r}, workers=2, progress=False)\n"
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).parents[2])
    assert run.returncode != 0
    assert 'HccriskError: radiomics worker processes die at start-up' in run.stderr
    assert 'if __name__ == "__main__":' in run.stderr


def test_case_takes_str_paths_and_rejects_a_bad_label(tmp_path):
    case = Case(7, str(tmp_path / "a.nii.gz"), str(tmp_path / "m.nii.gz"), prefix="AP")
    assert case.case_id == "7" and isinstance(case.image, Path) and case.name == "case 7 AP"
    with pytest.raises(InputError, match="case 7: label must be a positive integer"):
        Case("7", tmp_path / "a.nii.gz", tmp_path / "m.nii.gz", label=0)


def test_a_case_missing_filtered_images_gets_nan_columns_and_a_warning(tmp_path, caplog):
    # a 12 x 12 frame at 0.3 mm is too small for LoG sigma 4 and 5 mm: pyradiomics skips those images
    big = write_case(tmp_path, "big", *disc_frame(seed=0))
    small = write_case(tmp_path, "small", *disc_frame(seed=1, shape=(12, 12), radius=4))
    cases = [Case("BIG", *big), Case("SMALL", *small)]
    with caplog.at_level("WARNING", logger="hccrisk"):
        table, failures = extract_cohort(cases, "huang2022_ceus2d", tmp_path / "cache", workers=1, progress=False)
    assert failures.empty and table.shape == (2, 939)
    missing = table.columns[table.loc["SMALL"].isna()]
    assert len(missing) == 2 * 93 and all(c.startswith(("log-sigma-4-0", "log-sigma-5-0")) for c in missing)
    assert table.loc["BIG"].notna().all()
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("hccrisk")]
    warnings = [m for m in ours if "applyLoG" in m]
    assert len(warnings) == 2 and all(w.startswith(pseudonym("SMALL")) for w in warnings)
    assert not any("SMALL" in m for m in ours)  # logs carry pseudonyms only
