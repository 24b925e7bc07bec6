"""Context augmentation: short labelled texts placed inside neutral text of the same language.

Real reviews are long and mostly neutral (history, praise, life events) and give the reason in one
sentence, often the last. The hand-written corpus has few such texts, and a model trained on it
learns that a long, calm text is no-label. Each augmented example is a short labelled text put at the
end, start or middle of sentences cut from a no-label training text of the same language; it keeps
the short text's labels (the neutral part carries none by its own annotation).
"""
from __future__ import annotations

import random
from collections import defaultdict

from models.corpus import Example

NO_SPACE_LANGUAGES = {"ja", "zh"}
PLACEMENTS = ("end", "end", "end", "start", "middle")  # reasons come last most often


def in_neutral_context(train: list[Example], count: int, seed: int = 0, max_short_chars: int = 200,
                       max_context_chars: int = 450) -> list[Example]:
    """Up to ``count`` new examples built from ``train`` only (never from validation or test)."""
    from pipeline.sentences import sentence_spans

    rng = random.Random(seed)
    neutral: dict[str, list[str]] = defaultdict(list)
    for example in train:
        if not example.labels and example.lang and len(example.text) >= 60:
            neutral[example.lang].append(example.text)
    short = [e for e in train if e.labels and e.lang in neutral and len(e.text) <= max_short_chars]
    out = []
    for example in rng.sample(short, min(count, len(short))):
        context = rng.choice(neutral[example.lang])
        sentences = [context[a:b].strip() for a, b in sentence_spans(context, example.lang)]
        limit = max_context_chars // 2 if example.lang in NO_SPACE_LANGUAGES else max_context_chars  # ~tokens
        first = 0 if len(context) <= limit else rng.randrange(len(sentences))
        kept: list[str] = []
        for sentence in sentences[first:]:  # consecutive sentences, in their order
            if kept and sum(map(len, kept)) + len(sentence) > limit:
                break
            kept.append(sentence)
        placement = rng.choice(PLACEMENTS)
        if placement == "start":
            cut = 0
        elif placement == "middle" and len(kept) > 1:
            cut = rng.randrange(1, len(kept))
        else:
            cut = len(kept)
        pieces = kept[:cut] + [example.text.strip()] + kept[cut:]
        joiner = "" if example.lang in NO_SPACE_LANGUAGES else " "
        out.append(Example(joiner.join(pieces), example.labels, example.lang))
    return out
