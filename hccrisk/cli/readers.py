"""``hccrisk readers``: the reader study of huang2022 on readers' calls with and without the model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hccrisk.cli import app

readers_app = typer.Typer(help="Reader study: readers' calls without and with the model's help (huang2022).",
                          no_args_is_help=True)
app.add_typer(readers_app, name="readers")


def _truth(cohort: Path, outcome: str):
    from hccrisk.cohort import load_cohort
    from hccrisk.errors import InputError

    table = load_cohort(cohort)
    if outcome not in table:
        raise InputError(cohort / "outcomes.csv", f"no column {outcome!r}")
    return table[outcome]


@readers_app.command("analyse")
def analyse_command(
    calls: Path = typer.Argument(..., help="CSV: reader, patient_id, call_without, call_with (0/1)."),
    cohort: Path = typer.Option(..., "--cohort", help="Cohort folder whose outcomes.csv holds the truth."),
    out: Path = typer.Option(..., "--out", help="Output folder (report.html, tables/)."),
    outcome: str = typer.Option("er_1y", "--outcome", help="0/1 column of outcomes.csv that readers call."),
    cohort_labels: Optional[Path] = typer.Option(None, "--cohorts", help="Optional CSV patient_id, cohort "
                                                 "(e.g. a reproduction's tables/predictions.csv): analysed per cohort."),
) -> None:
    """Sensitivity/specificity without and with the model per reader (CIs, McNemar) and kappa before/after."""
    import pandas as pd

    from hccrisk.errors import HccriskError
    from hccrisk.report.html import Report
    from hccrisk.reproduce.huang2022_report import _readers_section
    from hccrisk.reproduce.readers import read_calls, reader_study

    try:
        table = read_calls(calls)
        labels = None
        if cohort_labels is not None:
            lab = pd.read_csv(cohort_labels, dtype={"patient_id": str})
            if not {"patient_id", "cohort"} <= set(lab.columns):
                from hccrisk.errors import InputError
                raise InputError(cohort_labels, "needs columns patient_id and cohort")
            labels = lab.set_index("patient_id")["cohort"]
        study = reader_study(table, _truth(cohort, outcome), cohorts=labels)
    except HccriskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    report = Report(f"Reader study: {outcome} without and with the model", out)
    report.record("calls", str(calls))
    report.record("outcome", outcome)
    _readers_section(report, study, simulated=False)
    path = report.write()
    for _, r in study.per_reader[study.per_reader.metric == "sensitivity"].iterrows():
        typer.echo(f"{r.cohort} {r.reader}: sensitivity {r['without']:.3f} -> {r['with']:.3f} "
                   f"(change {r.change:+.3f}, {r['change low']:+.3f} to {r['change high']:+.3f}; McNemar P {r['McNemar P']:.3g})")
    typer.echo(f"report: {path}")


@readers_app.command("simulate")
def simulate_command(
    cohort: Path = typer.Option(..., "--cohort", help="Cohort folder (outcomes.csv holds the truth)."),
    predictions: Path = typer.Option(..., "--predictions", help="CSV with patient_id and the model's probability "
                                     "(e.g. OUT/tables/predictions.csv of `hccrisk reproduce huang2022`)."),
    out: Path = typer.Option(..., "--out", help="Calls CSV to write."),
    column: str = typer.Option("DLR", "--column", help="Probability column of the predictions CSV."),
    outcome: str = typer.Option("er_1y", "--outcome", help="0/1 column of outcomes.csv the readers call."),
    readers: int = typer.Option(3, "--readers", min=2, help="Number of simulated readers."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Seeded simulated readers' calls (demo and tests): their accuracy improves with a discriminating model."""
    import pandas as pd

    from hccrisk.errors import HccriskError, InputError
    from hccrisk.reproduce.readers import simulate_reader_calls

    try:
        pred = pd.read_csv(predictions, dtype={"patient_id": str})
        if "patient_id" not in pred or column not in pred:
            raise InputError(predictions, f"needs columns patient_id and {column!r}")
        calls = simulate_reader_calls(_truth(cohort, outcome), pred.set_index("patient_id")[column], readers, seed)
    except HccriskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    calls.to_csv(out, index=False)
    typer.echo(f"{calls.patient_id.nunique()} patients x {readers} readers -> {out}")
