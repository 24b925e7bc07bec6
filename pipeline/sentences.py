"""Sentence spans per language: spaCy blank pipelines with the rule-based sentencizer (offline).

Japanese tokenises through sudachipy; languages spaCy lacks fall back to the multi-language ``xx``.
Line breaks also end a sentence (lists and e-mail paragraphs rarely end with a full stop).
"""
from __future__ import annotations

import re
from functools import lru_cache

Span = tuple[int, int]
_SPACY_CODES = {"no": "nb"}
_LINE_BREAK = re.compile(r"\n+")
MAX_CHARS = 20_000  # beyond this, split the head only: evidence far down a 5 MB text is not useful
RELOAD_EVERY = 20_000  # spaCy's string store keeps every token it has seen: start afresh now and then
_calls = 0


@lru_cache(maxsize=16)
def _pipeline(lang: str):
    import spacy

    code = _SPACY_CODES.get(lang, lang)
    try:
        nlp = spacy.blank(code)
    except (ImportError, KeyError, ValueError):
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def sentence_spans(text: str, lang: str = "xx") -> list[Span]:
    """Character spans of the sentences of ``text`` (whitespace trimmed, empty ones dropped)."""
    global _calls
    _calls += 1
    if _calls % RELOAD_EVERY == 0:  # otherwise memory grows with every unique token (ids, amounts, typos)
        _pipeline.cache_clear()
    head = text[:MAX_CHARS]
    spans: list[Span] = []
    try:
        doc_sents = [(s.start_char, s.end_char) for s in _pipeline(lang or "xx")(head).sents]
    except Exception:  # noqa: BLE001 - a tokenizer failure must not lose the record
        doc_sents = [(0, len(head))]
    for start, end in doc_sents:
        cursor = start
        for brk in _LINE_BREAK.finditer(head, start, end):
            spans.append((cursor, brk.start()))
            cursor = brk.end()
        spans.append((cursor, end))
    return [_trim(head, s, e) for s, e in spans if head[s:e].strip()]


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end)


def windows(text: str, spans: list[Span], max_chars: int) -> list[Span]:
    """Consecutive sentences packed into spans of at most ``max_chars`` (a longer sentence stands alone)."""
    out: list[Span] = []
    current: Span | None = None
    for start, end in spans:
        if current and end - current[0] > max_chars:
            out.append(current)
            current = None
        current = (current[0], end) if current else (start, end)
    if current:
        out.append(current)
    return out
