"""The labelled corpus: its make-up, duplicate handling and the frozen train/validation/test split."""
import json
from collections import Counter

import pytest

from models.corpus import Example, frozen_assignment, load_raw_corpus, split_corpus, write_splits

CORE, OTHERS = ("ja", "da", "en", "ru", "fr"), ("de", "es", "zh", "no", "sv")


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_bundled_corpus_meets_its_documented_make_up():
    corpus = load_raw_corpus()
    per_lang = Counter(e.lang for e in corpus)
    assert all(per_lang[lang] >= 250 for lang in CORE) and all(per_lang[lang] >= 60 for lang in OTHERS)
    assert sum(len(e.labels) >= 2 for e in corpus) / len(corpus) >= 0.25
    assert sum(not e.labels for e in corpus) / len(corpus) >= 0.12
    for lang in CORE + OTHERS:
        labels = Counter(label for e in corpus if e.lang == lang for label in e.labels)
        assert min(labels.values()) >= 0.15 * per_lang[lang], (lang, labels)


def test_committed_test_split_is_disjoint_from_training():
    splits = frozen_assignment()
    corpus_texts = {e.text for e in load_raw_corpus()}
    assert set(splits) <= corpus_texts, "splits/ lists texts that are no longer in raw/: re-run churnlens train"
    by_split = Counter(splits.values())
    assert by_split["test"] > 0 and by_split["train"] > 3 * by_split["test"]


def test_a_text_written_twice_counts_once(tmp_path):
    _write(tmp_path / "a.jsonl", [{"text": "n/a", "labels": [], "lang": "en"},
                                  {"text": "Too dear", "labels": ["price"], "lang": "en"}])
    _write(tmp_path / "b.jsonl", [{"text": "n/a ", "labels": [], "lang": "da"}])
    assert [e.text for e in load_raw_corpus(tmp_path)] == ["n/a", "Too dear"]


def test_a_text_with_two_different_labellings_is_refused(tmp_path):
    _write(tmp_path / "a.jsonl", [{"text": "Never again", "labels": ["quality"], "lang": "en"}])
    _write(tmp_path / "b.jsonl", [{"text": "Never again", "labels": [], "lang": "en"}])
    with pytest.raises(ValueError, match="a.jsonl.*b.jsonl"):
        load_raw_corpus(tmp_path)


def test_adding_data_never_moves_a_text_between_splits(tmp_path):
    first = [Example(f"text number {i}", ("price",) if i % 2 else (), "en") for i in range(200)]
    splits = split_corpus(first)
    write_splits(splits, tmp_path)
    more = first + [Example(f"a later text {i}", (), "en") for i in range(100)]
    again = split_corpus(more, frozen_assignment(tmp_path))
    for name, examples in splits.items():
        assert set(examples) <= set(again[name])
    assert sum(len(v) for v in again.values()) == 300
    assert 5 <= sum(e.text.startswith("a later") for e in again["test"]) <= 30
