"""Load labels.yaml into one frozen, validated taxonomy object."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import TaxonomyError

REQUIRED_DISPLAY_LANGUAGES = ("ja", "da", "en", "ru", "fr")
MIN_EXAMPLES = 5


class Label(BaseModel):
    """One departure reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=10)
    display_names: dict[str, str]
    examples: tuple[str, ...] = Field(min_length=MIN_EXAMPLES)

    @field_validator("display_names")
    @classmethod
    def _has_core_languages(cls, names: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in REQUIRED_DISPLAY_LANGUAGES if not names.get(lang)]
        if missing:
            raise ValueError(f"display_names lacks {', '.join(missing)}")
        return names

    def display_name(self, lang: str = "en") -> str:
        return self.display_names.get(lang) or self.display_names["en"]


class Taxonomy(BaseModel):
    """The set of labels a model predicts, with a version every record carries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    labels: tuple[Label, ...] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> str:
        return str(value)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Taxonomy":
        seen: set[str] = set()
        dups = sorted({label.id for label in self.labels if label.id in seen or seen.add(label.id)})
        if dups:
            raise ValueError(f"duplicate label ids: {', '.join(dups)}")
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(label.id for label in self.labels)

    def __getitem__(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    def fingerprint(self, ids: Sequence[str] | None = None) -> str:
        """Hash of the label ids and descriptions (of ``ids`` only, if given): what a model must match."""
        chosen = [self[i] for i in ids] if ids is not None else self.labels
        payload = json.dumps([[label.id, label.description] for label in chosen], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_taxonomy(path: str | Path = "labels.yaml") -> Taxonomy:
    """Read and validate a taxonomy file; raises TaxonomyError with every problem found."""
    path = Path(path)
    if not path.exists():
        raise TaxonomyError(f"taxonomy file {path} not found; pass --labels PATH to point at your labels.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TaxonomyError(f"{path} must be a mapping with 'version' and 'labels'")
    raw_ids = [label.get("id") for label in data.get("labels") or [] if isinstance(label, dict)]
    duplicates = sorted({i for i in raw_ids if i is not None and raw_ids.count(i) > 1})
    problems = [f"  labels: duplicate label ids: {', '.join(map(str, duplicates))}"] if duplicates else []
    try:
        taxonomy = Taxonomy.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = _location(err["loc"], data)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (allowed: id, description, display_names, examples; top level: version, labels)"
            if "duplicate label ids" not in msg:
                problems.append(f"  {where}: {msg}")
    if problems:
        raise TaxonomyError(f"{path} is invalid:\n" + "\n".join(problems))
    return taxonomy


def _location(loc: tuple, data: dict) -> str:
    """Render a pydantic error location, naming the label by its id where possible."""
    parts: list[str] = []
    if len(loc) >= 2 and loc[0] == "labels" and isinstance(loc[1], int):
        labels = data.get("labels") or []
        label = labels[loc[1]] if loc[1] < len(labels) else {}
        label_id = label.get("id") if isinstance(label, dict) else None
        parts.append(f"label {label_id!r}" if label_id else f"labels[{loc[1]}]")
        loc = loc[2:]
    parts.extend(str(p) for p in loc)
    return ".".join(parts) if parts else "(top level)"
