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
    if _decodes(sample, "utf-8") or _mostly_utf8(sample):
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


def _mostly_utf8(sample: bytes, share: float = 0.8) -> bool:
    """A UTF-8 file with a few lines in another encoding (mixed sources): those lines get repaired."""
    lines = [line for line in sample.splitlines()[:-1] if any(b > 127 for b in line)]
    return len(lines) >= 3 and sum(_decodes(line, "utf-8") for line in lines) >= share * len(lines)


def redecode(raw: bytes) -> str | None:
    """Decode bytes that are not valid in the file's encoding: cp932 or cp1252, whichever fits."""
    first = _cp932_or_cp1252(raw)
    for encoding in (first, "cp1252" if first == "cp932" else "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


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
