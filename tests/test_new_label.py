"""A label added to labels.yaml predicts at once from its examples, before any retraining."""
import yaml

from pipeline.tagging import Tagger
from tests.conftest import LABELS

COMPETITOR = {
    "id": "competitor_offer",
    "description": "A competitor made a better offer (price or terms) and the customer moved to it.",
    "display_names": {"en": "Competitor offer", "ja": "競合他社の提案", "da": "Konkurrenttilbud",
                      "ru": "Предложение конкурента", "fr": "Offre concurrente"},
    "examples": [
        "Another provider offered me a better deal, so I switched.",
        "他社からもっと良い条件の提案があったので乗り換えました。",
        "Et andet selskab gav mig et bedre tilbud, så jeg skiftede.",
        "Конкурент предложил более выгодные условия, я ушёл к ним.",
        "Un concurrent m'a fait une meilleure offre, je suis parti chez eux.",
        "Switched to a rival who gave me two months free.",
    ],
}


def test_competitor_offer_is_predicted_from_examples(tagger, tmp_path):
    data = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    data["version"] = "1.1"
    data["labels"].append(COMPETITOR)
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    extended = Tagger.load(labels=path)
    assert extended.label_ids[-1] == "competitor_offer"
    texts = [
        "Vodafone offered me a much better contract, so I moved over to them.",
        "Konkurrenten tilbød mig en bedre aftale, så jeg er skiftet.",
        "L'application plante tout le temps, c'est inutilisable.",
        "We are closing the shop at the end of the month.",
    ]
    predictions = extended.predict(texts, ["en", "da", "fr", "en"])
    column = predictions.scores[:, -1]
    assert "competitor_offer" in predictions.labels[0] and "competitor_offer" in predictions.labels[1], column
    assert "competitor_offer" not in predictions.labels[2] and "competitor_offer" not in predictions.labels[3], column
    assert column[:2].min() > column[2:].max()
    # the trained labels keep working beside the new one
    assert "quality" in predictions.labels[2]
