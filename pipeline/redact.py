"""Replace personal data in feedback text by typed placeholders before it is stored or exported.

E-mail addresses by pattern; IBANs and card numbers only when their checksum is valid (python-stdnum),
so prices, dates, order numbers and quantities stay; phone numbers with Google's libphonenumber
(`phonenumbers`), in the formats of the text's country and in international format.
"""
from __future__ import annotations

import re
from collections import Counter

PLACEHOLDERS = {"email": "[EMAIL]", "iban": "[IBAN]", "card": "[CARD]", "phone": "[PHONE]"}
REGION_BY_LANGUAGE = {"ja": "JP", "da": "DK", "en": "GB", "ru": "RU", "fr": "FR", "de": "DE", "es": "ES",
                      "zh": "CN", "no": "NO", "sv": "SE"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")


def _replace_valid(text: str, pattern: re.Pattern, is_valid, placeholder: str, counts: Counter, kind: str) -> str:
    def substitute(match: re.Match) -> str:
        if is_valid(match.group(0)):
            counts[kind] += 1
            return placeholder
        return match.group(0)

    return pattern.sub(substitute, text)


def _valid_iban(candidate: str) -> bool:
    from stdnum import iban

    return iban.is_valid(candidate)


def _valid_card(candidate: str) -> bool:
    from stdnum import luhn

    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits) and len(set(digits)) > 1


def redact(text: str, language: str | None = None) -> tuple[str, Counter]:
    """``text`` with personal data replaced, and how many of each kind were found."""
    import phonenumbers

    counts: Counter = Counter()
    text = _EMAIL.sub(lambda m: counts.update(["email"]) or PLACEHOLDERS["email"], text)
    text = _replace_valid(text, _IBAN, _valid_iban, PLACEHOLDERS["iban"], counts, "iban")
    text = _replace_valid(text, _CARD, _valid_card, PLACEHOLDERS["card"], counts, "card")
    region = REGION_BY_LANGUAGE.get(language or "", "GB")
    matches = list(phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID))
    for match in reversed(matches):
        text = text[: match.start] + PLACEHOLDERS["phone"] + text[match.end :]
        counts["phone"] += 1
    return text, counts


def redact_all(texts: list[str], languages: list[str] | None = None) -> tuple[list[str], Counter]:
    total: Counter = Counter()
    out = []
    for text, lang in zip(texts, languages or [None] * len(texts)):
        clean, counts = redact(text, lang)
        out.append(clean)
        total.update(counts)
    return out, total


def redact_rejects(rejects: list) -> list:
    """Copies of ``Reject`` records with their raw values redacted (their language is unknown)."""
    from dataclasses import replace

    return [replace(r, raw=redact(r.raw)[0] if r.raw else r.raw) for r in rejects]


def redact_batch(batch, languages: list[tuple[str, float]]):
    """A copy of an InputBatch with its texts and its rejects' raw values redacted."""
    from dataclasses import replace

    texts, _ = redact_all(batch.texts, [lang for lang, _ in languages])
    return replace(batch, texts=texts, rejects=redact_rejects(batch.rejects))
