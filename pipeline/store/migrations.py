"""The store's schema as an ordered list of migrations; ``churnlens_schema`` records which ran.

Add a migration by appending to :data:`MIGRATIONS`; never edit one that has shipped. SQL here runs
unchanged on DuckDB and PostgreSQL (TEXT, BIGINT, FLOAT8, BOOLEAN, TIMESTAMPTZ; JSON kept as TEXT).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pipeline.store.database import Database, StoreError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records, labelings with history, runs, rejects", (
        """CREATE TABLE records (
            id TEXT PRIMARY KEY,
            text TEXT NOT NULL,
            language TEXT,
            language_confidence FLOAT8,
            source TEXT,
            row_number BIGINT,
            attributes TEXT,
            first_seen_at TIMESTAMPTZ NOT NULL,
            last_seen_at TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE labelings (
            record_id TEXT NOT NULL,
            model_version TEXT NOT NULL,
            taxonomy_version TEXT NOT NULL,
            labels TEXT NOT NULL,
            scores TEXT NOT NULL,
            primary_label TEXT,
            uncertain BOOLEAN NOT NULL,
            evidence TEXT,
            processed_at TIMESTAMPTZ NOT NULL,
            run_id TEXT,
            PRIMARY KEY (record_id, model_version, taxonomy_version))""",
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            source TEXT,
            model_version TEXT,
            taxonomy_version TEXT,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status TEXT NOT NULL,
            read_count BIGINT,
            tagged_count BIGINT,
            rejected_count BIGINT,
            details TEXT)""",
        """CREATE TABLE rejects (
            run_id TEXT NOT NULL,
            row_number BIGINT,
            id TEXT,
            reason TEXT NOT NULL,
            message TEXT,
            raw TEXT)""",
    )),
    Migration(2, "who re-labelled, what each labeling replaced; human corrections; ingested files", (
        "ALTER TABLE labelings ADD COLUMN labeled_by TEXT",
        "ALTER TABLE labelings ADD COLUMN previous_model_version TEXT",
        "ALTER TABLE labelings ADD COLUMN previous_labels TEXT",
        """CREATE TABLE corrections (
            record_id TEXT NOT NULL,
            labels TEXT NOT NULL,
            reviewer TEXT,
            note TEXT,
            corrected_at TIMESTAMPTZ NOT NULL,
            model_version TEXT,
            PRIMARY KEY (record_id, corrected_at))""",
        """CREATE TABLE ingested_files (
            sha256 TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            run_id TEXT,
            ingested_at TIMESTAMPTZ NOT NULL)""",
        """CREATE VIEW current_labelings AS
            SELECT record_id, model_version, taxonomy_version, labels, scores, primary_label, uncertain, evidence,
                   processed_at, run_id, labeled_by, previous_model_version, previous_labels
            FROM (SELECT l.*, row_number() OVER (PARTITION BY record_id
                                                 ORDER BY processed_at DESC, model_version DESC) AS recency
                  FROM labelings l) ranked
            WHERE recency = 1""",
        """CREATE VIEW current_corrections AS
            SELECT record_id, labels, reviewer, note, corrected_at, model_version
            FROM (SELECT c.*, row_number() OVER (PARTITION BY record_id ORDER BY corrected_at DESC) AS recency
                  FROM corrections c) ranked
            WHERE recency = 1""",
    )),
)
LATEST = MIGRATIONS[-1].version


def schema_version(db: Database) -> int:
    if not db.table_exists("churnlens_schema"):
        return 0
    return int(db.query("SELECT coalesce(max(version), 0) FROM churnlens_schema")[0][0])


def migrate(db: Database, target: int = LATEST) -> list[int]:
    """Apply the missing migrations up to ``target``, each in its own transaction; returns those applied."""
    with db.transaction():
        db.execute("CREATE TABLE IF NOT EXISTS churnlens_schema "
                   "(version BIGINT PRIMARY KEY, description TEXT, applied_at TIMESTAMPTZ)")
    current = schema_version(db)
    if current > LATEST:
        raise StoreError(f"this store has schema version {current}, newer than this churnlens ({LATEST}): "
                         "upgrade churnlens before using it")
    applied = []
    for migration in MIGRATIONS:
        if current < migration.version <= target:
            with db.transaction():
                for statement in migration.statements:
                    db.execute(statement)
                db.execute("INSERT INTO churnlens_schema VALUES (?, ?, ?)",
                           [migration.version, migration.description, datetime.now(timezone.utc)])
            applied.append(migration.version)
    return applied
