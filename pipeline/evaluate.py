"""Precision, recall and F1 of predicted labels against a gold JSONL file, per label and per language."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    support: int


def _prf(tp: float, fp: float, fn: float) -> Scores:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return Scores(p, r, f, int(tp + fn))


def label_scores(gold: list[set[str]], pred: list[set[str]], labels: list[str]) -> dict[str, Scores]:
    """Per-label scores plus ``micro``, ``macro`` (over labels with support) and ``none`` (empty label set)."""
    out: dict[str, Scores] = {}
    totals = np.zeros(3)
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, pred))
        fp = sum(label not in g and label in p for g, p in zip(gold, pred))
        fn = sum(label in g and label not in p for g, p in zip(gold, pred))
        out[label] = _prf(tp, fp, fn)
        totals += (tp, fp, fn)
    out["micro"] = _prf(*totals)
    supported = [out[label] for label in labels if out[label].support]
    macro = [float(np.mean([getattr(s, k) for s in supported])) if supported else 0.0 for k in ("precision", "recall", "f1")]
    out["macro"] = Scores(*macro, support=sum(s.support for s in supported))
    tp = sum(not g and not p for g, p in zip(gold, pred))
    fp = sum(bool(g) and not p for g, p in zip(gold, pred))
    fn = sum(not g and bool(p) for g, p in zip(gold, pred))
    out["none"] = _prf(tp, fp, fn)
    return out


@dataclass
class GroupReport:
    texts: int
    scores: dict[str, Scores]


def evaluate_predictions(gold: list[set[str]], pred: list[set[str]], langs: list[str | None],
                         labels: list[str]) -> dict[str, GroupReport]:
    """``{"all": …, "<lang>": …}``, each with its text count and :func:`label_scores`."""
    report = {"all": GroupReport(len(gold), label_scores(gold, pred, labels))}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, lang in enumerate(langs):
        groups[lang or "und"].append(i)
    for lang in sorted(groups):
        idx = groups[lang]
        report[lang] = GroupReport(len(idx), label_scores([gold[i] for i in idx], [pred[i] for i in idx], labels))
    return report


def report_as_dict(report: dict[str, GroupReport]) -> dict:
    from dataclasses import asdict

    return {group: {"texts": r.texts, **{k: asdict(v) for k, v in r.scores.items()}} for group, r in report.items()}
