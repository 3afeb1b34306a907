"""The nomogram file of a model bundle, ``<bundle>/nomogram.json``: written from a fitted
:class:`hccrisk.models.NomogramModel`, read by the MONAI Deploy app (docs/deploy.md, "The nomogram file").

    {"format": "hccrisk-nomogram/1", "intercept": b0, "cutoff": c, "signature": "dl_score",
     "label": "er_2y", "coefs": {"dl_score": b1, "afp": b2, "child_pugh": {"A": 0.0, "B": b3}}}

risk = 1 / (1 + exp(-(b0 + sum beta x))): the predictor named by ``signature`` takes the imaging
signature (the bundle's probability), every other predictor a clinical.csv column; a categorical
predictor adds the beta of its level (reference level 0.0). The risk group is High at risk >= cutoff.
No value is imputed: a predictor without a value gives no risk (the SR says which value is missing).

Write one from a table (clinical.csv, outcomes.csv, the network's predictions.csv, merged on patient)::

    python -m hccrisk.models.nomogram_file --table clinical.csv --table outcomes.csv \\
        --scores bundles/ceus_mp/models/predictions.csv --where cohort=training --label er_2y \\
        --predictors dl_score,afp,child_pugh --out bundles/ceus_mp/nomogram.json
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from hccrisk.errors import InputError

FORMAT = "hccrisk-nomogram/1"
DEFAULT_SIGNATURE = "dl_score"


def level_key(value: Any) -> str:
    """A categorical level as the file writes it: ``1.0`` and ``1`` are both ``"1"`` (a CSV column with
    an empty cell is read as float), other values as ``str``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() and "." in text else text


@dataclass(frozen=True)
class NomogramSpec:
    """A fitted logistic nomogram: ``intercept``, ``coefs`` ({predictor: beta} or {predictor: {level: beta}}),
    the risk-group ``cutoff`` (probability), the name of the imaging-signature predictor, the outcome label."""

    intercept: float
    coefs: dict[str, float | dict[str, float]]
    cutoff: float
    signature: str = DEFAULT_SIGNATURE
    label: str = ""
    predictors: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "predictors", tuple(self.coefs))

    def risk(self, signature: float, clinical: Mapping[str, float | str]) -> tuple[float | None, tuple[str, ...]]:
        """(probability, missing predictors): None and the predictors without a value when any is missing.

        ``clinical``: clinical.csv column -> value (numbers as float or text, categories as text).
        :class:`InputError` for a level the nomogram does not know or a non-numeric value."""
        lp = self.intercept
        missing = []
        for predictor, beta in self.coefs.items():
            if predictor == self.signature:
                lp += float(beta) * float(signature)
                continue
            value = clinical.get(predictor)
            if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
                missing.append(predictor)
            elif isinstance(beta, dict):
                level = level_key(value)
                if level not in beta:
                    raise InputError(f"clinical value {predictor}", f"level {level!r} unknown to the nomogram "
                                                                    f"(levels {sorted(beta)})")
                lp += beta[level]
            else:
                try:
                    lp += beta * float(value)
                except ValueError:
                    raise InputError(f"clinical value {predictor}", f"{value!r} is not a number") from None
        if missing:
            return None, tuple(missing)
        return 1.0 / (1.0 + math.exp(-lp)), ()

    def to_json(self) -> dict:
        return {"format": FORMAT, "intercept": self.intercept, "cutoff": self.cutoff, "signature": self.signature,
                "label": self.label, "coefs": self.coefs}


def nomogram_spec(model: Any, cutoff: float, signature: str = DEFAULT_SIGNATURE, label: str = "") -> NomogramSpec:
    """The spec of a fitted :class:`hccrisk.models.NomogramModel` (its ``intercept_`` and ``nomogram_coefs_``).

    ``signature`` must be one of the model's predictors; ``cutoff`` is a probability in (0, 1)."""
    if not hasattr(model, "nomogram_coefs_"):
        raise InputError("nomogram", "the NomogramModel is not fitted (call fit first)")
    if signature not in model.nomogram_coefs_:
        raise InputError("nomogram", f"the imaging signature {signature!r} is not a predictor of the model "
                                     f"(predictors {list(model.nomogram_coefs_)})")
    if not 0.0 < float(cutoff) < 1.0:
        raise InputError("nomogram cutoff", f"must be a probability in (0, 1), got {cutoff}")
    coefs: dict[str, float | dict[str, float]] = {}
    for predictor, beta in model.nomogram_coefs_.items():
        coefs[predictor] = ({level_key(k): float(v) for k, v in beta.items()} if isinstance(beta, dict)
                            else float(beta))
    return NomogramSpec(float(model.intercept_), coefs, float(cutoff), signature, label)


def write_nomogram_file(spec: NomogramSpec, path: str | Path) -> Path:
    """Write ``spec`` as JSON to ``path`` (e.g. ``<bundle>/nomogram.json``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(spec.to_json(), indent=1) + "\n")
    tmp.replace(path)
    return path


def read_nomogram_file(path: str | Path) -> NomogramSpec:
    """Read a nomogram file; :class:`InputError` naming the file when it is not one."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
        coefs = {str(p): ({level_key(k): float(v) for k, v in b.items()} if isinstance(b, dict) else float(b))
                 for p, b in raw["coefs"].items()}
        spec = NomogramSpec(float(raw["intercept"]), coefs, float(raw["cutoff"]),
                            str(raw.get("signature", DEFAULT_SIGNATURE)), str(raw.get("label", "")))
    except FileNotFoundError:
        raise InputError(path, "no nomogram file") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(path, f"not a nomogram file ({type(exc).__name__}: {exc})") from None
    if raw.get("format", FORMAT) != FORMAT:
        raise InputError(path, f"format {raw['format']!r}; this hccrisk reads {FORMAT!r}")
    if spec.signature not in spec.coefs:
        raise InputError(path, f"the signature predictor {spec.signature!r} has no coefficient")
    return spec


# ----- command: fit a NomogramModel on a table and write the file ------------------------------------------
def _load_table(tables: Sequence[Path], scores: Path | None, signature: str) -> pd.DataFrame:
    frames = []
    for path in tables:
        frame = pd.read_csv(path, dtype={"patient_id": str})
        if "patient_id" not in frame.columns:
            raise InputError(path, "has no patient_id column")
        frames.append(frame.set_index("patient_id"))
    if scores is not None:
        frame = pd.read_csv(scores, dtype={"patient": str, "patient_id": str}).rename(columns={"patient": "patient_id"})
        if not {"patient_id", "probability"} <= set(frame.columns):
            raise InputError(scores, "needs patient (or patient_id) and probability columns (hccrisk train's "
                                     "predictions.csv)")
        frames.append(frame.set_index("patient_id").rename(columns={"probability": signature})
                      .drop(columns=["label"], errors="ignore"))
    if not frames:
        raise InputError("--table", "no table given")
    table = frames[0]
    for frame in frames[1:]:
        table = table.join(frame[[c for c in frame.columns if c not in table.columns]], how="inner")
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m hccrisk.models.nomogram_file``: fit a NomogramModel on a table and write nomogram.json."""
    from hccrisk.models import NomogramModel
    from hccrisk.stats.roc import youden_cutoff

    parser = argparse.ArgumentParser(prog="python -m hccrisk.models.nomogram_file", description=main.__doc__)
    parser.add_argument("--table", type=Path, action="append", default=[],
                        help="CSV with patient_id (repeat: merged on patient_id)")
    parser.add_argument("--scores", type=Path, help="hccrisk train's predictions.csv: probability -> the signature")
    parser.add_argument("--signature", default=DEFAULT_SIGNATURE, help="imaging-signature predictor name")
    parser.add_argument("--where", help="keep rows where COLUMN=VALUE (e.g. cohort=training)")
    parser.add_argument("--label", required=True, help="binary outcome column (e.g. er_2y)")
    parser.add_argument("--predictors", required=True, help="comma-separated predictors (the signature included)")
    parser.add_argument("--categorical", default="", help="comma-separated categorical predictors")
    parser.add_argument("--cutoff", default="youden", help="risk-group cut-off probability, or 'youden' "
                                                            "(maximum Youden J on the fitting rows)")
    parser.add_argument("--out", type=Path, required=True, help="e.g. bundles/ceus_mp/nomogram.json")
    args = parser.parse_args(argv)
    try:
        table = _load_table(args.table, args.scores, args.signature)
        if args.where:
            column, _, value = args.where.partition("=")
            if column not in table.columns:
                raise InputError("--where", f"no column {column!r} in the table")
            table = table[table[column].astype(str) == value]
        predictors = [p for p in args.predictors.split(",") if p]
        absent = [c for c in [*predictors, args.label] if c not in table.columns]
        if absent:
            raise InputError("--predictors/--label", f"column(s) {absent} not in the table")
        table = table.dropna(subset=[args.label])
        model = NomogramModel(predictors, [c for c in args.categorical.split(",") if c]).fit(
            table[predictors], table[args.label].astype(int))
        usable = table[predictors].notna().all(axis=1)
        cutoff = (youden_cutoff(table.loc[usable, args.label].astype(int),
                                model.predict_proba(table.loc[usable, predictors])[:, 1]).cutoff
                  if args.cutoff == "youden" else float(args.cutoff))
        path = write_nomogram_file(nomogram_spec(model, cutoff, args.signature, args.label), args.out)
    except InputError as exc:  # also the fit's EstimatorInputError, which names the problem
        parser.exit(2, f"error: {exc}\n")
    print(f"wrote {path}: {int(usable.sum())} rows, predictors {predictors}, cut-off {cutoff:.4f}")


if __name__ == "__main__":
    main()
