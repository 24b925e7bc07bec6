"""churnlens library: ingest, language detection, tagging and output (usable without Prefect)."""

__version__ = "0.1.0"
