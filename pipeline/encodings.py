"""Detect the text encoding of an input file (UTF-8 ± BOM, UTF-16, Shift_JIS/cp932, cp1252)."""
from __future__ import annotations

import codecs
from pathlib import Path

SAMPLE_BYTES = 1 << 20
SUPPORTED = ("utf-8", "utf-8-sig", "utf-16", "cp932", "shift_jis", "cp1252", "latin-1")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(path: Path, sample_bytes: int = SAMPLE_BYTES) -> str:
    """Best guess at the encoding of ``path``: BOM first, then strict UTF-8, then a kana test between cp932 and cp1252."""
    with open(path, "rb") as fh:
        sample = fh.read(sample_bytes)
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if _decodes(sample, "utf-8"):
        return "utf-8"
    if _looks_utf16_without_bom(sample):
        return "utf-16-le"
    return _cp932_or_cp1252(sample)


def _cp932_or_cp1252(sample: bytes) -> str:
    """Japanese text decoded as cp932 contains kana; Western text mis-decoded as cp932 rarely does."""
    if _decodes(sample, "cp932"):
        text = sample.decode("cp932", errors="ignore")
        non_ascii = [c for c in text if ord(c) > 127]
        kana = sum("\u3040" <= c <= "\u30ff" or "\uff66" <= c <= "\uff9f" for c in non_ascii)
        if non_ascii and kana / len(non_ascii) >= 0.15:
            return "cp932"
        if not _decodes(sample, "cp1252"):
            return "cp932"
    return "cp1252"


def _decodes(sample: bytes, encoding: str) -> bool:
    """True if the sample decodes strictly (a multi-byte char cut at the sample's end is fine)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        decoder.decode(sample, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _looks_utf16_without_bom(sample: bytes) -> bool:
    """Mostly-ASCII UTF-16-LE text has a zero in nearly every odd byte."""
    odd = sample[1:2000:2]
    return len(odd) > 10 and odd.count(0) > 0.8 * len(odd)


def normalise_encoding_name(name: str) -> str:
    """Validate a user-given encoding name; raises LookupError with the supported list."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise LookupError(f"unknown encoding {name!r}; try one of: {', '.join(SUPPORTED)}") from None
