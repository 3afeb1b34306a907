"""chen2025_features without images: a patient the ingest lacks is a failure row (the others go on),
on worker processes as in this process; the DenseNet thread's errors reach the caller."""

from __future__ import annotations

import pytest

from hccrisk.errors import InputError
from hccrisk.reproduce.chen2025_features import _InBackground, liver_inputs
from hccrisk.reproduce.common import RunPaths


@pytest.mark.parametrize("workers", [1, 2])
def test_patients_without_ingested_mri_are_failure_rows(tmp_path, workers):
    paths = RunPaths(tmp_path / "cohort", tmp_path / "out", tmp_path / "ingest", tmp_path / "out" / "work")
    masks, inputs, failures = liver_inputs(paths, ["P1", "P2", "P3"], workers=workers, progress=False)
    assert masks == {} and inputs == {}
    assert [f["patient_id"] for f in failures] == ["P1", "P2", "P3"]  # the patients' order, whatever finished first
    assert all("no ingested MRI" in f["problem"] for f in failures)


def test_background_result_and_error():
    assert _InBackground(sum, [1, 2, 3]).result() == 6

    def fails() -> None:
        raise InputError("DenseNet", "only 3 training patients have liver slices; need >= 10")

    with pytest.raises(InputError, match="need >= 10"):
        _InBackground(fails).result()
