"""Split long texts into sentence windows, so a reason in the last paragraph is not truncated away."""
from __future__ import annotations

import re

LONG_TEXT_CHARS = 500
WINDOW_CHARS = 350
_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|(?<=[。！？])|\n+")


def split_sentences(text: str) -> list[str]:
    """Rough, language-independent sentence split (ASCII and CJK terminators, line breaks)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def windows(text: str, max_chars: int = WINDOW_CHARS) -> list[str]:
    """Consecutive sentences packed into windows of at most ``max_chars`` (a longer sentence stands alone)."""
    out: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        if current and len(current) + 1 + len(sentence) > max_chars:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out
