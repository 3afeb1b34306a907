"""The bundle's nomogram file: a fitted NomogramModel written, read back, and giving the model's own
probabilities (what the app's SR carries must equal the research path)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hccrisk.errors import InputError
from hccrisk.models import NomogramModel
from hccrisk.models.nomogram_file import nomogram_spec, read_nomogram_file, write_nomogram_file
from hccrisk.synth.cohort import cohort_tables

PREDICTORS = ["dl_score", "afp", "alb", "child_pugh", "hbv"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """The synthetic cohort's clinical values and er_2y, with an imaging signature made from the true risk."""
    tables = cohort_tables(120, 0, 1.0)
    clinical, outcomes, truth = (tables[k].set_index("patient_id") for k in ("clinical", "outcomes", "truth"))
    rng = np.random.default_rng(0)
    data = clinical.join(outcomes[["er_2y"]])
    data["dl_score"] = np.clip(truth["p_er_2y"] + rng.normal(0, 0.1, len(truth)), 0.01, 0.99)
    return data.dropna(subset=["er_2y"])


@pytest.fixture(scope="module")
def model(table) -> NomogramModel:
    return NomogramModel(PREDICTORS, categorical=["child_pugh", "hbv"]).fit(table[PREDICTORS], table["er_2y"].astype(int))


def test_file_gives_the_models_probabilities(table, model, tmp_path):
    path = write_nomogram_file(nomogram_spec(model, 0.4, label="er_2y"), tmp_path / "nomogram.json")
    spec = read_nomogram_file(path)
    assert spec.label == "er_2y" and spec.cutoff == 0.4 and spec.signature == "dl_score"
    assert spec.coefs["child_pugh"]["A"] == 0.0 and set(spec.coefs["hbv"]) == {"0", "1"}
    complete = table[PREDICTORS].dropna()
    expected = model.predict_proba(complete)[:, 1]
    for (pid, row), p in zip(complete.iterrows(), expected):
        # the app's inputs: the signature as a float, clinical values as clinical.csv text
        clinical = {c: str(row[c]) for c in PREDICTORS[1:]}
        risk, missing = spec.risk(row["dl_score"], clinical)
        assert missing == () and abs(risk - p) <= 1e-12, pid


def test_missing_value_gives_no_risk_and_names_it(model, tmp_path):
    spec = nomogram_spec(model, 0.4)
    risk, missing = spec.risk(0.3, {"afp": "12", "child_pugh": "A", "hbv": "1", "alb": ""})
    assert risk is None and missing == ("alb",)


def test_bad_inputs_are_named(model, tmp_path):
    spec = nomogram_spec(model, 0.4)
    with pytest.raises(InputError, match="child_pugh.*level 'C' unknown"):
        spec.risk(0.3, {"afp": 1.0, "alb": 40.0, "child_pugh": "C", "hbv": "0"})
    with pytest.raises(InputError, match="'dl' is not a predictor"):
        nomogram_spec(model, 0.4, signature="dl")
    with pytest.raises(InputError, match="probability"):
        nomogram_spec(model, 1.5)
    bad = tmp_path / "nomogram.json"
    bad.write_text(json.dumps({"intercept": 1.0}))
    with pytest.raises(InputError, match=f"{bad}: not a nomogram file"):
        read_nomogram_file(bad)


def test_command_fits_and_writes(table, tmp_path):
    csv = tmp_path / "table.csv"
    table.reset_index().to_csv(csv, index=False)
    out = tmp_path / "bundle" / "nomogram.json"
    run = subprocess.run([sys.executable, "-m", "hccrisk.models.nomogram_file", "--table", str(csv), "--label", "er_2y",
                          "--predictors", ",".join(PREDICTORS), "--categorical", "child_pugh,hbv", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    spec = read_nomogram_file(out)
    assert 0.0 < spec.cutoff < 1.0 and spec.predictors == tuple(PREDICTORS)
    run = subprocess.run([sys.executable, "-m", "hccrisk.models.nomogram_file", "--table", str(csv), "--label", "er_2y",
                          "--predictors", "dl_score,nope", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "['nope'] not in the table" in run.stderr
