"""Clinical values for the report: looked up by patient ID, else by the study's accession number, from
clinical.csv or clinical.json; empty cells are named missing; bad files and values are named."""

from __future__ import annotations

import json

import pytest

from hccrisk.errors import InputError
from hccrisk.results.clinical import KNOWN, read_clinical


def test_csv_by_patient_then_by_accession(tmp_path):
    (tmp_path / "clinical.csv").write_text("patient_id,accession_number,afp,alb,child_pugh,notes\n"
                                           "P1,A1,12.5,,A,x\n"
                                           ",A2,400,38.1,B,y\n")
    values, missing = read_clinical(tmp_path, "P1", "A9")
    assert values == {"afp": 12.5, "child_pugh": "A"} and missing == ("alb",)  # unknown columns ignored
    values, missing = read_clinical(tmp_path, "P-unknown", "A2")
    assert values == {"afp": 400.0, "alb": 38.1, "child_pugh": "B"} and missing == ()


def test_json_by_accession_and_no_row(tmp_path):
    (tmp_path / "clinical.json").write_text(json.dumps({"A7": {"afp": 3, "sex": "F"}}))
    assert read_clinical(tmp_path, "P7", "A7") == ({"afp": 3.0, "sex": "F"}, ())
    values, missing = read_clinical(tmp_path, "P8", "A8")
    assert values == {} and set(missing) == KNOWN


def test_bad_inputs_are_named(tmp_path):
    (tmp_path / "clinical.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="clinical.json: not a JSON object"):
        read_clinical(tmp_path, "P1")
    (tmp_path / "clinical.json").unlink()
    (tmp_path / "clinical.csv").write_text("patient_id,afp\nP1,high\n")
    with pytest.raises(InputError, match="clinical value afp.*'high' is not a number"):
        read_clinical(tmp_path, "P1")
