"""The output record layout: tagged records and rejects, as Arrow tables."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from pipeline.ingest import InputBatch, Reject

EVIDENCE_TYPE = pa.struct([pa.field("text", pa.string()), pa.field("start", pa.int32()), pa.field("end", pa.int32())])
TAGGED_FIELDS = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string()),
    pa.field("language", pa.string()),
    pa.field("language_confidence", pa.float64()),
    pa.field("labels", pa.list_(pa.string())),
    pa.field("scores", pa.map_(pa.string(), pa.float64())),
    pa.field("primary_label", pa.string()),
    pa.field("uncertain", pa.bool_()),
    pa.field("evidence", pa.map_(pa.string(), EVIDENCE_TYPE)),
    pa.field("model_version", pa.string()),
    pa.field("taxonomy_version", pa.string()),
    pa.field("processed_at", pa.timestamp("us", tz="UTC")),
    pa.field("row_number", pa.int64()),
]
TAGGED_SCHEMA = pa.schema(TAGGED_FIELDS)
REJECT_SCHEMA = pa.schema([
    pa.field("row_number", pa.int64()), pa.field("id", pa.string()), pa.field("reason", pa.string()),
    pa.field("message", pa.string()), pa.field("raw", pa.string()),
])
PASSTHROUGH_PREFIX = "input_"


def build_tagged_table(batch: InputBatch, languages: list[tuple[str, float]], predictions, *, model_version: str,
                       taxonomy_version: str, processed_at: datetime) -> pa.Table:
    """One output row per record of ``batch``, pass-through columns appended (renamed on a clash)."""
    n = len(batch)
    label_ids = predictions.label_ids
    score_maps = [[(label, round(float(s), 4)) for label, s in zip(label_ids, row)] for row in predictions.scores]
    evidence = [[(label, {"text": text, "start": start, "end": end}) for label, (start, end, text) in ev.items()]
                for ev in predictions.evidence]
    columns = [
        pa.array(batch.ids, pa.string()),
        pa.array(batch.texts, pa.string()),
        pa.array([lang for lang, _ in languages], pa.string()),
        pa.array([conf for _, conf in languages], pa.float64()),
        pa.array(predictions.labels, pa.list_(pa.string())),
        pa.array(score_maps, pa.map_(pa.string(), pa.float64())),
        pa.array([row[0] if row else None for row in predictions.labels], pa.string()),
        pa.array(predictions.uncertain, pa.bool_()),
        pa.array(evidence, pa.map_(pa.string(), EVIDENCE_TYPE)),
        pa.array([model_version] * n, pa.string()),
        pa.array([taxonomy_version] * n, pa.string()),
        pa.array([processed_at] * n, pa.timestamp("us", tz="UTC")),
        pa.array(batch.row_numbers, pa.int64()),
    ]
    table = pa.Table.from_arrays(columns, schema=TAGGED_SCHEMA)
    reserved = set(TAGGED_SCHEMA.names)
    for name, column in zip(batch.passthrough.column_names, batch.passthrough.columns):
        out_name = PASSTHROUGH_PREFIX + name if name in reserved else name
        table = table.append_column(out_name, column)
    return table


def rejects_table(rejects: list[Reject]) -> pa.Table:
    return pa.table({
        "row_number": pa.array([r.row_number for r in rejects], pa.int64()),
        "id": pa.array([r.id for r in rejects], pa.string()),
        "reason": pa.array([r.reason for r in rejects], pa.string()),
        "message": pa.array([r.message for r in rejects], pa.string()),
        "raw": pa.array([r.raw for r in rejects], pa.string()),
    }, schema=REJECT_SCHEMA)
