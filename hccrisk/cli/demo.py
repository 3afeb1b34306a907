"""``hccrisk demo``: the main job on the built-in synthetic cohort (what ``make demo`` runs).

synthetic cohort -> ingest -> cohort overview report -> the reproduction of each paper -> an index page
(OUT/index/report.html) linking every report. Each step is skipped when its output is already there (delete the
folder, or pass --force, to start again); a paper that fails is reported by name and the others go on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from hccrisk.cli import app

#: The order the demo runs them: the headline first (docs/reproduce.md).
DEMO_PAPERS = ("liu2025", "huang2022", "zhao2024", "liu2020", "chen2025")


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Output folder (cohort/, ingest/, report/, "
                             "<paper>/, index/report.html)."),
    patients: int = typer.Option(120, "--patients", min=10, help="Synthetic cohort size."),
    seed: int = typer.Option(0, "--seed", help="Cohort seed (same seed, same results)."),
    signal: float = typer.Option(1.0, "--signal", min=0.0, help="Planted signal strength (0: none)."),
    papers: str = typer.Option("all", "--papers", help="Reproductions to run: all, none, or a comma list "
                               f"of {', '.join(DEMO_PAPERS)}."),
    workers: int = typer.Option(0, "--workers", min=0, help="Parallel patients (0: all cores)."),
    force: bool = typer.Option(False, "--force", help="Redo every step."),
) -> None:
    """Synthesise a cohort, ingest it, write the cohort overview and reproduce each paper on it."""
    import shutil

    from hccrisk.errors import HccriskError
    from hccrisk.ingest.pipeline import ingest
    from hccrisk.report.cohort import cohort_overview
    from hccrisk.synth.cohort import generate_cohort

    chosen = _chosen_papers(papers)
    cohort, ingested, report = out / "cohort", out / "ingest", out / "report"
    steps = 4 if chosen else 3
    t0 = time.perf_counter()
    try:
        if force or not (cohort / "cohort.json").is_file():
            shutil.rmtree(cohort, ignore_errors=True)
            typer.echo(f"[1/{steps}] synthetic cohort: {patients} patients, seed {seed}, signal {signal}")
            generate_cohort(cohort, patients, seed, signal, "both", "default", workers or None)
        else:
            typer.echo(f"[1/{steps}] synthetic cohort already in {cohort}")
        typer.echo(f"[2/{steps}] ingest")
        result = ingest(cohort / "dicom", ingested, workers=workers or None, force=force)
        typer.echo(f"      {result.n_done} ingested, {result.n_skipped} already done, {result.n_failed} "
                   f"failed, {result.n_problems} problems")
        typer.echo(f"[3/{steps}] cohort overview report")
        overview = cohort_overview(cohort, report, ingest_dir=ingested, seed=seed)
    except HccriskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    runs = _reproduce_all(chosen, cohort, ingested, out, seed, workers, steps)
    index = _write_index(out, overview, runs, seed)
    failed = [r["paper"] for r in runs if r["status"] != "done"]
    typer.echo(f"done in {time.perf_counter() - t0:.0f} s: {index}"
               + (f" ({len(failed)} failed: {', '.join(failed)})" if failed else ""))
    if failed:
        raise typer.Exit(1)


def _chosen_papers(papers: str) -> list[str]:
    if papers == "all":
        return list(DEMO_PAPERS)
    if papers == "none":
        return []
    chosen = [p.strip() for p in papers.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in DEMO_PAPERS]
    if unknown:
        typer.echo(f"error: --papers: unknown {', '.join(unknown)}; known: {', '.join(DEMO_PAPERS)}", err=True)
        raise typer.Exit(2)
    return chosen


def _reproduce_all(papers: list[str], cohort: Path, ingested: Path, out: Path, seed: int, workers: int,
                   steps: int) -> list[dict]:
    """Run each paper's reproduction into OUT/<paper>; a failure is recorded and the next paper runs."""
    from hccrisk.errors import HccriskError
    from hccrisk.reproduce import runner

    runs = []
    for i, paper in enumerate(papers, 1):
        typer.echo(f"[4/{steps}] reproduce {paper} ({i}/{len(papers)})")
        t = time.perf_counter()
        try:
            path = runner(paper)(cohort, out / paper, ingest_dir=ingested, seed=seed, workers=workers or None)
            runs.append({"paper": paper, "status": "done", "report": str(path.relative_to(out)),
                         "seconds": round(time.perf_counter() - t)})
            typer.echo(f"      {paper}: {time.perf_counter() - t:.0f} s -> {path}")
        except (HccriskError, Exception) as exc:  # noqa: BLE001 - one paper's failure must not stop the others
            runs.append({"paper": paper, "status": f"failed: {type(exc).__name__}: {exc}", "report": "",
                         "seconds": round(time.perf_counter() - t)})
            typer.echo(f"      {paper} FAILED: {type(exc).__name__}: {exc}", err=True)
    return runs


def _write_index(out: Path, overview: Path, runs: list[dict], seed: int) -> Path:
    """OUT/index/report.html: links to the cohort overview and each paper's report, with wall times."""
    import pandas as pd

    from hccrisk.report.html import Report

    index = Report("hccrisk demo: synthetic cohort, overview and the five reproductions", out / "index",
                   seed=seed)
    index.section("Reports")
    index.links([("Cohort overview (ingest summary, baseline tables, regression, survival)",
                  str(Path("..") / overview.relative_to(out)))]
                + [(f"{r['paper']} reproduction", str(Path("..") / r["report"])) for r in runs if r["report"]])
    if runs:
        index.table("reproductions", pd.DataFrame(runs)[["paper", "status", "seconds"]],
                    caption="Each reproduction's status and wall time (s); docs/reproduce.md says what each "
                            "one reproduces.")
    index.record("reproductions", runs)
    page = index.write()
    (out / "demo.json").write_text(json.dumps({"overview": str(overview.relative_to(out)), "reproductions": runs},
                                              indent=1))
    return page
