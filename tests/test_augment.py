"""Context augmentation: short labelled texts shown inside neutral text of their own language."""
from models.augment import in_neutral_context
from models.corpus import Example

TRAIN = [
    Example("The price doubled overnight.", ("price",), "en"),
    Example("Nobody ever answers the phone.", ("responsiveness",), "en"),
    Example("We moved to Spain last spring. The kids love the school there. Thanks for everything.", (), "en"),
    Example("値段が高すぎます。", ("price",), "ja"),
    Example("来月から夫の転勤で海外に住むことになりました。五年間、家族みんなで毎週末の映画を楽しみにしていました。"
            "長い間お世話になりました。", (), "ja"),
    Example("Tak for mange gode år, vi flytter til udlandet nu og har ikke brug for abonnementet.", (), "da"),
    Example("Altid venlig service.", (), "da"),
]


def test_each_example_is_a_labelled_text_inside_neutral_text_of_its_language():
    augmented = in_neutral_context(TRAIN, count=10)
    assert len(augmented) == 3  # each short labelled text whose language has neutral text, once
    for example in augmented:
        (source,) = [e for e in TRAIN if e.labels and e.text in example.text]
        assert example.labels == source.labels and example.lang == source.lang
        neutral = [e.text for e in TRAIN if not e.labels and e.lang == source.lang]
        before, after = example.text.split(source.text)
        assert before.strip() or after.strip()
        for part in (before.strip(), after.strip()):
            assert any(part in text for text in neutral), part
    (japanese,) = [e for e in augmented if e.lang == "ja"]
    assert " " not in japanese.text


def test_augmentation_is_reproducible_and_bounded():
    assert in_neutral_context(TRAIN, count=2, seed=3) == in_neutral_context(TRAIN, count=2, seed=3)
    assert len(in_neutral_context(TRAIN, count=2)) == 2
    assert in_neutral_context(TRAIN, count=0) == []
