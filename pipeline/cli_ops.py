"""Operations commands on the results store: relabel, review, export, report, store status.

Registered on the main ``churnlens`` app by :func:`register`; heavy imports stay inside commands.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline.config import DEFAULT_DETECTOR, DEFAULT_LABELS, DEFAULT_MODEL_DIR, DEFAULT_STORE, STORE_ENV
from pipeline.errors import ChurnlensError

console = Console(stderr=True)
out = Console()

StoreOpt = typer.Option(None, "--store", help=f"Results store: a .duckdb file or postgresql://user@host:5432/db "
                        f"(default: ${STORE_ENV}, else {DEFAULT_STORE}). Passwords: PGPASSWORD or ~/.pgpass.")
LabelsOpt = typer.Option(DEFAULT_LABELS, "--labels", help="Taxonomy file (labels.yaml).")
ModelOpt = typer.Option(DEFAULT_MODEL_DIR, "--model-dir", help="Directory of a trained classifier.")
USER_ERRORS = (ChurnlensError, ValueError, FileNotFoundError)


def store_url(value: Optional[str]) -> str:
    return value or os.environ.get(STORE_ENV) or str(DEFAULT_STORE)


def fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def progress_bar(label: str, total: int | None = None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def relabel(
    store: Optional[str] = StoreOpt,
    labels: Path = LabelsOpt,
    model_dir: Path = ModelOpt,
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", help="Used only for records stored without a language."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Records per committed batch."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Stop after N records (the rest stay pending)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, onnx-int8, onnx, int8 or bf16."),
) -> None:
    """Re-classify stored records with the current model and labels.yaml, keeping the old labels as history.

    Only records without a labeling from this model and taxonomy version are processed, so an
    interrupted re-label continues where it stopped. Prints the label flips per label and language.
    """
    from pipeline.store import open_store
    from pipeline.store.jobs import relabel as run_relabel
    from pipeline.tagging import Tagger

    try:
        with console.status("loading model…"):
            tagger = Tagger.load(model_dir, labels, detector, precision=precision)
        with open_store(store_url(store)) as results:
            pending = results.count_pending(tagger.model_version, tagger.taxonomy.version)
            console.print(f"{pending} records to re-label with model {tagger.model_version}, "
                          f"taxonomy {tagger.taxonomy.version}")
            with progress_bar("re-labelling") as bar:
                task = bar.add_task("relabel", total=min(pending, limit or pending))
                report = run_relabel(results, tagger, batch_size, limit, on_batch=lambda n: bar.advance(task, n))
    except USER_ERRORS as exc:
        fail(exc)
    table = Table(title=f"label changes: {report.relabelled} re-labelled with {report.model_version} "
                        f"({report.changed_labels} label flips)")
    for column in ("label", "language", "added", "removed"):
        table.add_column(column, justify="left" if column in ("label", "language") else "right")
    for label, language, added, removed in report.changes:
        table.add_row(label, language or "?", str(added), str(removed))
    out.print(table)
    out.print(f"run {report.run_id}; history is kept: `churnlens history RECORD_ID` shows every labeling")
    if report.failed:
        out.print(f"[yellow]{report.failed} records failed and stay pending: run relabel again[/]")
        raise typer.Exit(1)


def history(record_id: str = typer.Argument(..., help="A record id."), store: Optional[str] = StoreOpt) -> None:
    """Every labeling a record has had: model, taxonomy, labels, when and by whom."""
    from pipeline.store import open_store

    try:
        with open_store(store_url(store)) as results:
            rows = results.history(record_id)
    except USER_ERRORS as exc:
        fail(exc)
    if not rows:
        fail(ValueError(f"no record {record_id!r} in the store"))
    table = Table(title=f"history of {record_id}")
    for column in ("processed_at", "model_version", "taxonomy_version", "labels", "labeled_by", "run_id"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["processed_at"]), row["model_version"], row["taxonomy_version"],
                      ", ".join(row["labels"]) or "(none)", row["labeled_by"] or "", row["run_id"] or "")
    out.print(table)


def review_export(
    output: Path = typer.Argument(..., help="Review file to write (.csv, opens in Excel)."),
    store: Optional[str] = StoreOpt,
    labels: Path = LabelsOpt,
    sample: Optional[int] = typer.Option(None, "--sample", min=1, help="At most N records, drawn at random."),
    all_records: bool = typer.Option(False, "--all", help="Sample from all records, not only the uncertain ones."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the sample."),
) -> None:
    """Write records flagged uncertain (or a sample of all) to a CSV for a human to check."""
    from pipeline.review import export_review
    from pipeline.store import open_store
    from pipeline.taxonomy import load_taxonomy

    try:
        with open_store(store_url(store)) as results:
            n = export_review(results, load_taxonomy(labels), output, sample, not all_records, seed)
    except USER_ERRORS as exc:
        fail(exc)
    out.print(f"{n} records to review in [bold]{output}[/]: put 1 in a label column to assign it, empty it to "
              "remove it, or write ok in 'verdict' to confirm; then `churnlens review import`")


def review_import(
    review_file: Path = typer.Argument(..., help="A review file filled in by a reviewer."),
    store: Optional[str] = StoreOpt,
    labels: Path = LabelsOpt,
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Name stored when the file's reviewer column is empty."),
) -> None:
    """Store a reviewer's corrections: they win over model labels in exports and feed `churnlens train --store`."""
    from pipeline.review import import_review
    from pipeline.store import open_store
    from pipeline.taxonomy import load_taxonomy

    try:
        with open_store(store_url(store)) as results:
            result = import_review(results, load_taxonomy(labels), review_file, reviewer)
    except USER_ERRORS as exc:
        fail(exc)
    out.print(f"{result.corrected} corrected, {result.confirmed} confirmed, {result.untouched} rows left untouched")


def export(
    fmt: str = typer.Option("parquet", "--format", "-f", help="parquet (Hive folders), csv (Excel), or sql "
                            "(wide + long tables and the churnlens_reasons view in a database)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Folder (parquet), file (csv) or database "
                                         "URL (sql; default: the store itself)."),
    store: Optional[str] = StoreOpt,
    labels: Path = LabelsOpt,
    date_column: Optional[str] = typer.Option(None, "--date-column", help="Pass-through column that dates each "
                                              "record (month partitions); default: when it was tagged."),
) -> None:
    """Export the current labels (human corrections win) for BI tools, following pipeline/contracts/bi_export.v1.yaml."""
    from pipeline.export import export_csv, export_parquet, export_sql
    from pipeline.store import connect, open_store
    from pipeline.taxonomy import load_taxonomy

    if fmt not in ("parquet", "csv", "sql"):
        fail(ValueError(f"--format {fmt!r}: use parquet, csv or sql"))
    try:
        taxonomy = load_taxonomy(labels)
        with open_store(store_url(store)) as results:
            if fmt == "parquet":
                result = export_parquet(results, taxonomy, output or "churnlens-output/bi", date_column)
            elif fmt == "csv":
                result = export_csv(results, taxonomy, output or "churnlens-output/churnlens.csv", date_column)
            else:
                target = connect(output) if output else None
                try:
                    result = export_sql(results, taxonomy, target, date_column)
                finally:
                    if target:
                        target.close()
    except USER_ERRORS as exc:
        fail(exc)
    out.print(f"exported {result.rows} records to [bold]{result.target}[/]")


def report(
    output: Path = typer.Option(Path("churnlens-output/report.html"), "--output", "-o", help="HTML file to write."),
    input: Optional[Path] = typer.Option(None, "--input", help="A tagged file (.parquet/.csv/.jsonl) instead of the store."),
    store: Optional[str] = StoreOpt,
    labels: Path = LabelsOpt,
    value_column: Optional[str] = typer.Option(None, "--value-column", help="Customer value column (e.g. "
                                               "annual_revenue_eur): adds revenue at risk per reason."),
    segment: list[str] = typer.Option([], "--segment", help="Pass-through column to break reasons down by (repeatable)."),
    date_column: Optional[str] = typer.Option(None, "--date-column", help="Column dating each record (default: when tagged)."),
    title: str = typer.Option("Why customers leave", "--title"),
) -> None:
    """Write a self-contained HTML report with plots: reasons by language, over time, by segment, revenue at risk."""
    from pipeline.report import write_report
    from pipeline.report_source import records_from_file, records_from_store
    from pipeline.taxonomy import load_taxonomy

    try:
        taxonomy = load_taxonomy(labels)
        if input:
            records, rejected = records_from_file(input)
        else:
            records, rejected = records_from_store(store_url(store))
        path = write_report(records, output, taxonomy=taxonomy, value_column=value_column, segment_columns=segment,
                            date_column=date_column, title=title, rejected=rejected)
    except USER_ERRORS as exc:
        fail(exc)
    out.print(f"report: [bold]{path}[/] ({records.num_rows} records)")


def status(store: Optional[str] = StoreOpt) -> None:
    """What the store holds: counts, and the last runs."""
    from pipeline.store import open_store

    try:
        with open_store(store_url(store)) as results:
            counts, runs = results.counts(), results.runs()[-10:]
            description = results.description
    except USER_ERRORS as exc:
        fail(exc)
    out.print(description + ": " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    table = Table(title="last runs")
    for column in ("run", "kind", "source", "model", "status", "read", "tagged", "rejected"):
        table.add_column(column)
    for run in runs:
        table.add_row(run["run_id"], run["kind"], run["source"] or "", run["model_version"] or "", run["status"],
                      *(str(run[k] if run[k] is not None else "") for k in ("read", "tagged", "rejected")))
    out.print(table)


def inbox(
    folder: Path = typer.Argument(..., help="Folder where new feedback files arrive."),
    store: Optional[str] = StoreOpt,
    text_column: Optional[str] = typer.Option(None, "--text-column"),
    id_column: Optional[str] = typer.Option(None, "--id-column"),
    redact: bool = typer.Option(False, "--redact", help="Replace e-mails, phones, cards and IBANs by placeholders."),
    labels: Path = LabelsOpt,
    model_dir: Path = ModelOpt,
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector"),
) -> None:
    """Tag the new files of FOLDER into the store once, moving them to FOLDER/processed (no Prefect needed)."""
    from pipeline.inbox import process_inbox
    from pipeline.store import open_store
    from pipeline.tagging import Tagger

    try:
        with console.status("loading model…"):
            tagger = Tagger.load(model_dir, labels, detector)
        with open_store(store_url(store)) as results, console.status("tagging new files…"):
            result = process_inbox(folder, results, tagger, text_column=text_column, id_column=id_column,
                                   redact=redact)
    except USER_ERRORS as exc:
        fail(exc)
    out.print(result.message)
    for name, error in result.failed_files.items():
        out.print(f"[red]refused[/] {name}: {error}")
    if result.failed_files:
        raise typer.Exit(1)


def serve(schedule_file: Path = typer.Argument(..., help="Schedule file (YAML): jobs with inbox, store, cron.")) -> None:
    """Register the scheduled jobs as Prefect deployments and run them until stopped (Ctrl-C).

    Schedules only fire with a Prefect server: start one with `prefect server start --host 127.0.0.1`
    and set PREFECT_API_URL=http://127.0.0.1:4200/api. Without a server this command refuses to start.
    """
    import httpx

    from pipeline.schedule import load_schedule

    try:
        schedule = load_schedule(schedule_file)
    except USER_ERRORS as exc:
        fail(exc)
    from flows.serve import prefect_api_url, serve_schedule

    url = prefect_api_url()
    if not url:
        fail(ValueError("no Prefect server configured, and schedules do not fire in Prefect's embedded mode. "
                        "Start one:  prefect server start --host 127.0.0.1   then  "
                        "export PREFECT_API_URL=http://127.0.0.1:4200/api  and run churnlens serve again. "
                        "(For a one-off run without a server: churnlens inbox FOLDER.)"))
    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        fail(ValueError(f"the Prefect server at {url} does not answer ({exc}): is `prefect server start` running?"))
    for job in schedule.jobs:
        when = f"cron '{job.cron}' ({job.timezone})" if job.cron else f"every {job.interval_seconds} s"
        out.print(f"[bold]{job.name}[/]: {job.inbox} → {job.store}, {when}")
    out.print(f"serving {len(schedule.jobs)} deployments on {url}; the UI shows their runs. Ctrl-C stops.")
    serve_schedule(schedule)


def register(app: typer.Typer) -> None:
    app.command(epilog="Example: churnlens inbox /data/inbox --store /data/churnlens.duckdb")(inbox)
    app.command(epilog="Example: churnlens serve schedule.yaml   (with PREFECT_API_URL set)")(serve)
    app.command(epilog="Example: churnlens relabel --store churnlens-output/churnlens.duckdb")(relabel)
    app.command(epilog="Example: churnlens history r-000123")(history)
    app.command(epilog="Example: churnlens export --format parquet -o bi/ --date-column submitted_at")(export)
    app.command(epilog="Example: churnlens report --value-column annual_revenue_eur --segment segment")(report)
    app.command(name="store", epilog="Example: churnlens store --store postgresql://churnlens@127.0.0.1/churnlens")(status)
    review = typer.Typer(help="Human review: export uncertain records to a spreadsheet, import corrections.",
                         no_args_is_help=True)
    review.command("export", epilog="Example: churnlens review export review.csv --sample 200")(review_export)
    review.command("import", epilog="Example: churnlens review import review.csv --reviewer maria")(review_import)
    app.add_typer(review, name="review")
