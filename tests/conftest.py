"""Shared fixtures. Prefect state and the encoder cache live in temporary directories."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

_STATE = Path(tempfile.mkdtemp(prefix="churnlens-tests-"))
os.environ.setdefault("PREFECT_HOME", str(_STATE / "prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Reuse a converted encoder when the user already has one (CHURNLENS_CACHE or ~/.cache/churnlens);
# otherwise convert once per session into a temporary cache.
if "CHURNLENS_CACHE" not in os.environ and not (Path.home() / ".cache" / "churnlens" / "encoders").exists():
    os.environ["CHURNLENS_CACHE"] = str(_STATE / "cache")

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "labels.yaml"


@pytest.fixture(scope="session")
def taxonomy():
    from pipeline.taxonomy import load_taxonomy

    return load_taxonomy(LABELS)


def hashed_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """A deterministic bag-of-character-trigrams embedding: a stand-in encoder for fast unit tests."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        t = f"  {text.lower()}  "
        for j in range(len(t) - 2):
            out[i, hash(t[j : j + 3]) % dim] += 1.0
        norm = np.linalg.norm(out[i])
        if norm:
            out[i] /= norm
    return out


@pytest.fixture(scope="session")
def encoder():
    """The real converted multilingual-e5-small (converted on first use, ~15 s)."""
    from models.encoder import load_encoder

    return load_encoder()


@pytest.fixture(scope="session")
def tagger(encoder):
    """The committed default classifier on the real encoder."""
    from pipeline.tagging import Tagger

    return Tagger.load()


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server on 127.0.0.1 for the whole session (see tests/services.py)."""
    from tests.services import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="churnlens-pg-")))
    url = server.start()
    yield url
    server.stop()


_DATABASES = iter(range(1, 10_000))


@pytest.fixture(params=["duckdb", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty store URL: every store test runs on both backends."""
    if request.param == "duckdb":
        return str(tmp_path / "results.duckdb")
    import psycopg

    base = request.getfixturevalue("postgres")
    name = f"store_{next(_DATABASES)}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return base.rsplit("/", 1)[0] + "/" + name


def make_stand_in_tagger(taxonomy, model_version: str = "test-1", seed: int = 0):
    """A Tagger on the hashing stand-in encoder with a random head: fast, deterministic per seed."""
    import torch

    from models.classifier import ClassifierMeta, ReasonClassifier, build_head
    from pipeline.tagging import Tagger

    labels = list(taxonomy.ids)
    torch.manual_seed(seed)
    meta = ClassifierMeta(labels=labels, taxonomy_version=taxonomy.version, taxonomy_fingerprint=taxonomy.fingerprint(),
                          encoder="hashed", embedding_dim=64, hidden_dim=0, thresholds={label: 0.5 for label in labels},
                          model_version=model_version)
    head = build_head(64, 0, len(labels))
    with torch.no_grad():
        head[1].weight.mul_(8.0)
    return Tagger(taxonomy, ReasonClassifier(head, meta), hashed_embed)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API server for the session; yields its URL (for Dask workers' PREFECT_API_URL)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def stand_in_tagger(taxonomy):
    """A Tagger on ``hashed_embed`` with an untrained head: deterministic within a process, loads instantly."""
    from models.classifier import ClassifierMeta, ReasonClassifier, build_head
    from pipeline.tagging import Tagger

    labels = list(taxonomy.ids)
    meta = ClassifierMeta(labels=labels, taxonomy_version=taxonomy.version, taxonomy_fingerprint=taxonomy.fingerprint(),
                          encoder="hashed", embedding_dim=64, hidden_dim=0, thresholds={label: 0.5 for label in labels})
    return Tagger(taxonomy, ReasonClassifier(build_head(64, 0, len(labels)), meta), hashed_embed)
