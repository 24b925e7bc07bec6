"""The results store: DuckDB (embedded default) or PostgreSQL, one interface, versioned schema."""
from pipeline.store.database import StoreError, connect
from pipeline.store.results import PendingRecord, ResultStore, open_store

__all__ = ["PendingRecord", "ResultStore", "StoreError", "connect", "open_store"]
