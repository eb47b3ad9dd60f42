"""Accuracy and macro-F1 of every sentiment model (and the topic classifiers) on the held-out sentences.

The test sentences are never used to fit anything shipped. ``distilled`` is measured the way
``auto`` uses it on texts beyond its sample: the held-out set is split in five folds, and each
fold is predicted by the fast model fitted on the training sentences plus the other folds'
texts labelled by e5 (e5's labels, not the true ones). VADER is an English lexicon; it is
applied to the Finnish sentences as if they were English, to show what it gives there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import KFold

from polku.cx.text import labelled
from polku.cx.text.embed import Embedder, e5_embed
from polku.cx.text.features import SparseLinear, fast_features
from polku.cx.text.sentiment import FAST_C, distilled, e5_sentiment, e5_theme, fast_model, vader_sentiment

MODELS = ("e5", "fast", "distilled", "vader")


def scores(truth: Sequence[str], predicted: Sequence[str | None], languages: Sequence[str],
           classes: Sequence[str] = labelled.LABELS) -> list[dict[str, Any]]:
    """Accuracy and macro-F1 per language and overall; a missing prediction counts as wrong."""
    y = np.array(truth, dtype=object)
    p = np.array(["(none)" if v is None else v for v in predicted], dtype=object)
    lang = np.array(languages, dtype=object)
    rows = []
    for name in [*sorted(set(languages)), "all"]:
        m = np.ones(len(y), dtype=bool) if name == "all" else lang == name
        rows.append({"language": name, "n": int(m.sum()), "accuracy": float(accuracy_score(y[m], p[m])),
                     "macro_f1": float(f1_score(y[m], p[m], labels=list(classes), average="macro"))})
    return rows


def predictions(embed: Embedder = e5_embed, models: Sequence[str] = MODELS, folds: int = 5) -> dict[str, list[str | None]]:
    """Each model's labels of the held-out sentences, in file order."""
    test = labelled.examples("test")
    texts = [e.text for e in test]
    out: dict[str, list[str | None]] = {}
    e5 = e5_sentiment(embed(texts)).labels if {"e5", "distilled"} & set(models) else None
    if "e5" in models and e5 is not None:
        out["e5"] = list(e5)
    if "fast" in models:
        out["fast"] = list(fast_model().predict(texts).labels)
    if "distilled" in models and e5 is not None:
        pred = np.empty(len(texts), dtype=object)
        for rest, fold in KFold(folds, shuffle=True, random_state=0).split(texts):
            model = distilled([texts[i] for i in rest], [e5[i] for i in rest])
            pred[fold] = model.predict([texts[i] for i in fold]).labels
        out["distilled"] = list(pred)
    if "vader" in models:
        out["vader"] = list(vader_sentiment(texts, ["en"] * len(texts)).labels)
    return out


def evaluate(embed: Embedder = e5_embed, models: Sequence[str] = MODELS) -> dict[str, list[dict[str, Any]]]:
    """Per model, the accuracy and macro-F1 rows of ``scores`` on the held-out sentences."""
    test = labelled.examples("test")
    truth, languages = [e.label for e in test], [e.language for e in test]
    return {name: scores(truth, labels, languages) for name, labels in predictions(embed, models).items()}


def evaluate_topics(embed: Embedder = e5_embed) -> dict[str, list[dict[str, Any]]]:
    """Accuracy of the topic classifiers on the held-out sentences: the e5 theme head and a fast one."""
    train, test = labelled.examples("train"), labelled.examples("test")
    texts = [e.text for e in test]
    fast = SparseLinear(FAST_C).fit(fast_features([e.text for e in train]), [e.topic for e in train])
    predicted = {"e5": list(e5_theme(embed(texts))), "fast": list(fast.predict(fast_features(texts)))}
    truth, languages = [e.topic for e in test], [e.language for e in test]
    return {name: scores(truth, p, languages, labelled.TOPICS) for name, p in predicted.items()}


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    """The results as a Markdown table (model, language, n, accuracy, macro-F1)."""
    lines = ["| model | language | n | accuracy | macro-F1 |", "|---|---|---|---|---|"]
    for model, rows in results.items():
        lines += [f"| {model} | {r['language']} | {r['n']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} |" for r in rows]
    return "\n".join(lines)
