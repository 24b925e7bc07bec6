"""Check a raw corpus file: valid JSONL, known labels, label balance. Usage: python check_corpus.py FILE.jsonl"""
import json, sys, collections
LABELS = {"price", "quality", "responsiveness", "broken_promise", "unresolved_complaint"}
path = sys.argv[1]
rows = []
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except Exception as e:
        sys.exit(f"line {n}: invalid JSON: {e}")
    assert set(r) == {"text", "labels", "lang"}, f"line {n}: keys must be text, labels, lang; got {sorted(r)}"
    assert isinstance(r["text"], str) and r["text"].strip(), f"line {n}: empty text"
    bad = set(r["labels"]) - LABELS
    assert not bad, f"line {n}: unknown labels {bad}"
    assert len(set(r["labels"])) == len(r["labels"]), f"line {n}: duplicate label"
    rows.append(r)
texts = [r["text"] for r in rows]
dups = [t for t, c in collections.Counter(texts).items() if c > 1]
c = collections.Counter(l for r in rows for l in r["labels"])
multi = sum(len(r["labels"]) >= 2 for r in rows)
none = sum(not r["labels"] for r in rows)
print(f"{len(rows)} texts; langs {dict(collections.Counter(r['lang'] for r in rows))}")
print("per label:", dict(c))
print(f"multi-label: {multi} ({multi/len(rows):.0%}); none: {none} ({none/len(rows):.0%}); duplicates: {len(dups)}")
