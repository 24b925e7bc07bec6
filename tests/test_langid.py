import pytest

from pipeline.langid import detect_languages, get_detector

AMBIGUOUS = ["Too expensive.", "For dyrt", "nul", "ok", "Kundeservice svarte aldri", "tres cher", "Service"]


@pytest.mark.parametrize("name", ["langdetect", "lingua"])
def test_detectors_are_deterministic(name):
    first = detect_languages(AMBIGUOUS, name)
    for _ in range(15):
        get_detector.cache_clear()
        assert detect_languages(AMBIGUOUS, name) == first


@pytest.mark.parametrize("name", ["langdetect", "lingua"])
def test_answers_stay_within_configured_languages(name):
    texts = ["Das ist viel zu teuer geworden", "Obrigado pela atenção", "Dziękuję bardzo za wszystko"]
    codes = {code for code, _ in detect_languages(texts, name, ("en", "de", "fr"))}
    assert codes <= {"en", "de", "fr", "und"}


@pytest.mark.parametrize("name", ["langdetect", "lingua"])
def test_script_rules_and_undetermined(name):
    results = detect_languages(["高すぎるので解約", "12345 !!!", "Слишком дорого, ухожу к конкурентам"], name)
    assert results[0] == ("ja", 1.0)
    assert results[1] == ("und", 0.0)
    assert results[2][0] == "ru" and 0 < results[2][1] <= 1


@pytest.mark.parametrize("name", ["langdetect", "lingua"])
def test_clear_sentences_in_each_language(name):
    samples = {
        "en": "The support team never answered my emails, so I cancelled.",
        "da": "Kundeservice svarede aldrig på mine mails, så jeg opsagde abonnementet.",
        "fr": "Le service client n'a jamais répondu à mes courriels, j'ai donc résilié.",
        "de": "Der Kundendienst hat nie auf meine E-Mails geantwortet, also habe ich gekündigt.",
        "es": "El servicio al cliente nunca respondió mis correos, así que cancelé.",
        "sv": "Kundtjänst svarade aldrig på mina mejl, så jag sade upp abonnemanget.",
        "zh": "客服从来不回复我的邮件，所以我取消了订阅。",
    }
    got = dict(zip(samples, (code for code, _ in detect_languages(list(samples.values()), name))))
    assert got == {code: code for code in samples}


def test_unknown_detector_lists_choices():
    with pytest.raises(ValueError, match="choose one of: lingua, langdetect"):
        detect_languages(["hello"], "fasttext")
