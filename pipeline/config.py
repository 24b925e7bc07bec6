"""Defaults in one place. CLI flags and the Prefect flow override them; nothing else hard-codes them."""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

LANGUAGES: tuple[str, ...] = ("ja", "da", "en", "ru", "fr", "de", "es", "zh", "no", "sv")
DEFAULT_DETECTOR = "lingua"
UNDETERMINED = "und"
LANGID_MAX_CHARS = 400  # the language is plain long before this; the rest only costs time

DEFAULT_LABELS = PROJECT_ROOT / "labels.yaml"
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "default"
DEFAULT_SAMPLE = PROJECT_ROOT / "examples" / "feedback_sample.csv"
DEFAULT_OUTPUT_DIR = Path("churnlens-output")
STORE_ENV = "CHURNLENS_STORE"  # a store URL: postgresql://user@host/db, or a .duckdb path
DEFAULT_STORE = DEFAULT_OUTPUT_DIR / "churnlens.duckdb"

# Evidence: how many in-context best sentences per label are re-read alone to pick the supporting one.
# "checked" finds a planted reason sentence in 91 % of 5-sentence texts and costs ~0.7 of a pass on top,
# "fast" (in-context ranking only) 77 % at almost no cost; see README "Speed".
EVIDENCE_MODES = {"checked": 3, "fast": 1, "off": 0}
DEFAULT_EVIDENCE = "checked"

BATCH_SIZE = 256
CHUNK_SIZE = 2000  # records per task of the Prefect flow (and per file in its work folder)
