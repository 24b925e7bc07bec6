import pytest
import yaml

from pipeline.errors import TaxonomyError
from pipeline.taxonomy import load_taxonomy
from tests.conftest import LABELS


def _write(tmp_path, data) -> str:
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _base():
    return yaml.safe_load(LABELS.read_text(encoding="utf-8"))


def test_shipped_taxonomy_has_the_five_reasons(taxonomy):
    assert taxonomy.ids == ("price", "quality", "responsiveness", "broken_promise", "unresolved_complaint")
    assert taxonomy["price"].display_name("ja") == "価格"
    assert all(len(label.examples) >= 5 for label in taxonomy.labels)


def test_taxonomy_is_frozen(taxonomy):
    with pytest.raises(Exception):
        taxonomy.version = "2"


def test_duplicate_ids_are_named(tmp_path):
    data = _base()
    data["labels"].append(dict(data["labels"][0]))
    with pytest.raises(TaxonomyError, match="duplicate label ids: price"):
        load_taxonomy(_write(tmp_path, data))


def test_missing_field_names_the_label(tmp_path):
    data = _base()
    del data["labels"][1]["description"]
    with pytest.raises(TaxonomyError, match=r"label 'quality'\.description: Field required"):
        load_taxonomy(_write(tmp_path, data))


def test_unknown_key_is_refused(tmp_path):
    data = _base()
    data["labels"][0]["colour"] = "red"
    with pytest.raises(TaxonomyError, match=r"label 'price'\.colour: unknown key"):
        load_taxonomy(_write(tmp_path, data))


def test_too_few_examples_and_missing_display_language(tmp_path):
    data = _base()
    data["labels"][2]["examples"] = ["only one"]
    del data["labels"][3]["display_names"]["ja"]
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(_write(tmp_path, data))
    message = str(info.value)
    assert "label 'responsiveness'.examples" in message
    assert "display_names lacks ja" in message


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(TaxonomyError, match="--labels"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_fingerprint_changes_with_labels(tmp_path, taxonomy):
    data = _base()
    data["labels"][0]["description"] = "Anything about money, including billing mistakes of any kind."
    assert load_taxonomy(_write(tmp_path, data)).fingerprint() != taxonomy.fingerprint()
