"""Language detection by name: ``lingua`` or ``langdetect``, both restricted to the configured languages.

Each detector returns an ISO 639-1 code and a confidence in [0, 1], or ``und`` when unsure.
Script facts come first: any kana means Japanese, Hangul Korean; text without letters is ``und``.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from pipeline.config import LANGID_MAX_CHARS, LANGUAGES, UNDETERMINED

MIN_CONFIDENCE = 0.0  # answer whenever there are letters: measured best on short feedback
_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_LETTER = re.compile(r"[^\W\d_]")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")

Detection = tuple[str, float]


def _script_rule(text: str, languages: Sequence[str]) -> Detection | None:
    if not _LETTER.search(text):
        return (UNDETERMINED, 0.0)
    if _KANA.search(text) and "ja" in languages:
        return ("ja", 1.0)
    if _HANGUL.search(text):
        return ("ko", 1.0) if "ko" in languages else (UNDETERMINED, 0.0)
    if "ja" in languages and _japanese_only_kanji(text):
        return ("ja", 0.9)
    return None


def _encodable(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def _japanese_only_kanji(text: str) -> bool:
    """Kanji-only Japanese ("品質最悪", "担当者不親切") told apart from Chinese by character repertoires.

    Japanese shinjitai (悪, 発, 遅) are in Shift_JIS but in neither GB2312 (simplified Chinese) nor
    Big5 (traditional); a text mixing simplified-looking (当) and traditional-looking (親) forms, all
    in Shift_JIS, is Japanese too. Any character outside Shift_JIS (们, 这) rules Japanese out.
    """
    han = [c for c in text if _HAN.match(c)]
    if not han or any(not _encodable(c, "cp932") for c in han):
        return False
    not_simplified = [c for c in han if not _encodable(c, "gb2312")]
    not_traditional = [c for c in han if not _encodable(c, "big5")]
    japanese_only = set(not_simplified) & set(not_traditional)
    return bool(japanese_only) or (bool(not_simplified) and bool(not_traditional))


class LinguaDetector:
    """lingua-py restricted to the configured languages (Norwegian Bokmål and Nynorsk both map to ``no``)."""

    name = "lingua"

    def __init__(self, languages: Sequence[str] = LANGUAGES) -> None:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        wanted = []
        for code in languages:
            if code == "no":
                wanted += [Language.BOKMAL, Language.NYNORSK]
            else:
                wanted.append(Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())))
        self.languages = tuple(languages)
        self._detector = LanguageDetectorBuilder.from_languages(*wanted).build()

    def detect(self, text: str) -> Detection:
        rule = _script_rule(text, self.languages)
        if rule:
            return rule
        return _best(self._normalise(self._detector.compute_language_confidence_values(text[:LANGID_MAX_CHARS])))

    def detect_many(self, texts: list[str]) -> list[Detection]:
        """Batch form of :meth:`detect`: lingua scores the texts in parallel (Rust threads)."""
        results: list[Detection | None] = [_script_rule(t, self.languages) for t in texts]
        todo = [i for i, r in enumerate(results) if r is None]
        batch = [texts[i][:LANGID_MAX_CHARS] for i in todo]
        for i, confidences in zip(todo, self._detector.compute_language_confidence_values_in_parallel(batch)):
            results[i] = _best(self._normalise(confidences))
        return results

    @staticmethod
    def _normalise(confidences) -> dict[str, float]:
        """Confidence per ISO 639-1 code, Bokmål and Nynorsk merged by max (not sum: two models)."""
        totals: dict[str, float] = {}
        for value in confidences:
            code = value.language.iso_code_639_1.name.lower()
            code = "no" if code in ("nb", "nn") else code
            totals[code] = max(totals.get(code, 0.0), value.value)
        norm = sum(totals.values()) or 1.0
        return {code: value / norm for code, value in totals.items()}


class LangdetectDetector:
    """langdetect with only the configured language profiles and a fixed seed, so it is deterministic."""

    name = "langdetect"
    _PROFILE_NAMES = {"zh": ("zh-cn", "zh-tw")}

    def __init__(self, languages: Sequence[str] = LANGUAGES, seed: int = 0) -> None:
        import os

        import langdetect
        from langdetect.detector_factory import DetectorFactory

        profiles_dir = os.path.join(os.path.dirname(langdetect.__file__), "profiles")
        profiles = []
        for code in languages:
            for name in self._PROFILE_NAMES.get(code, (code,)):
                with open(os.path.join(profiles_dir, name), encoding="utf-8") as fh:
                    profiles.append(fh.read())
        self.languages = tuple(languages)
        self._factory = DetectorFactory()
        self._factory.load_json_profile(profiles)
        self._factory.set_seed(seed)

    def detect(self, text: str) -> Detection:
        from langdetect.lang_detect_exception import LangDetectException

        rule = _script_rule(text, self.languages)
        if rule:
            return rule
        detector = self._factory.create()
        detector.append(text[:LANGID_MAX_CHARS])
        try:
            probabilities = detector.get_probabilities()
        except LangDetectException:
            return (UNDETERMINED, 0.0)
        totals: dict[str, float] = {}
        for p in probabilities:
            code = p.lang.split("-")[0]
            totals[code] = totals.get(code, 0.0) + p.prob
        return _best(totals)


def _best(totals: dict[str, float]) -> Detection:
    if not totals:
        return (UNDETERMINED, 0.0)
    code, confidence = max(totals.items(), key=lambda kv: kv[1])
    confidence = round(min(confidence, 1.0), 4)
    return (code, confidence) if confidence >= MIN_CONFIDENCE else (UNDETERMINED, confidence)


DETECTORS: dict[str, Callable[..., object]] = {"lingua": LinguaDetector, "langdetect": LangdetectDetector}


@lru_cache(maxsize=8)
def get_detector(name: str, languages: tuple[str, ...] = LANGUAGES):
    """The detector registered as ``name``, built once per process."""
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown language detector {name!r}; choose one of: {', '.join(DETECTORS)}") from None
    return factory(languages)


def detect_languages(texts: Sequence[str], detector: str, languages: tuple[str, ...] = LANGUAGES) -> list[Detection]:
    """Language code and confidence for each text."""
    det = get_detector(detector, tuple(languages))
    if hasattr(det, "detect_many"):
        return det.detect_many(list(texts))
    return [det.detect(t) for t in texts]
