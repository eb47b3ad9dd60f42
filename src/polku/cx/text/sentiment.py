"""Sentiment models: a label (negative, neutral, positive) and a score in [-1, 1] for each text.

- ``e5``: a logistic-regression head over multilingual e5 embeddings, fitted on the shipped
  training sentences (``python -m polku.cx.text.train``) and shipped as weights. Most accurate,
  and slow (tens of texts per second per core).
- ``fast``: logistic regression over hashed words and character 5-grams, fitted at first use
  on the same sentences (under a second); thousands of texts per second, less accurate.
- ``vader``: VADER's English lexicon, the baseline; texts in other languages get no sentiment.
- ``auto`` (the analysis default) is e5 for up to a sample of distinct texts and, beyond it, the
  fast model distilled from e5's labels of that sample (see ``polku.cx.text.analyse``).

A classifier's score is P(positive) − P(negative); VADER's is its compound score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from polku.cx.text import labelled
from polku.cx.text.features import SparseLinear, fast_features

LABELS: Final = labelled.LABELS
HEADS_FILE: Final = "e5_heads.json"
FAST_C: Final = 10.0
VADER_NEUTRAL: Final = 0.05  # VADER's own threshold on the compound score


@dataclass(frozen=True)
class Sentiment:
    """Labels and scores of a list of texts (a label may be None where the model gives none)."""

    labels: np.ndarray  # object array of str or None
    scores: np.ndarray  # float64, NaN where there is no label


@dataclass(frozen=True)
class LinearHead:
    """A fitted multinomial logistic regression: class names, coefficients and intercepts."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (n_classes, dim)
    intercept: np.ndarray  # (n_classes,)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities of the rows of ``x`` (softmax of the linear scores)."""
        z = x @ self.coef.T + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class of each row."""
        return np.array(self.classes, dtype=object)[self.proba(x).argmax(axis=1)]

    @classmethod
    def of(cls, model: LogisticRegression) -> LinearHead:
        """The head of a fitted scikit-learn logistic regression (multinomial)."""
        return cls(tuple(str(c) for c in model.classes_), np.asarray(model.coef_, dtype=np.float64),
                   np.asarray(model.intercept_, dtype=np.float64))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready weights."""
        return {"classes": list(self.classes), "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearHead:
        """The head written by ``to_dict``."""
        return cls(tuple(data["classes"]), np.array(data["coef"], dtype=np.float64),
                   np.array(data["intercept"], dtype=np.float64))


def of_proba(classes: Sequence[str], proba: np.ndarray) -> Sentiment:
    """Labels (most probable class) and scores (P(positive) − P(negative)) from class probabilities."""
    idx = {c: i for i, c in enumerate(classes)}
    labels = np.array(classes, dtype=object)[proba.argmax(axis=1)]
    return Sentiment(labels, proba[:, idx["positive"]] - proba[:, idx["negative"]])


@cache
def heads() -> dict[str, Any]:
    """The shipped e5 heads (``sentiment`` and ``theme``) and the metadata of their training."""
    data = json.loads((labelled.DATA / HEADS_FILE).read_text(encoding="utf-8"))
    return {"sentiment": LinearHead.from_dict(data["sentiment"]), "theme": LinearHead.from_dict(data["theme"]),
            "meta": data["meta"]}


def e5_sentiment(embeddings: np.ndarray) -> Sentiment:
    """Sentiment of texts from their e5 embeddings, by the shipped head."""
    head: LinearHead = heads()["sentiment"]
    return of_proba(head.classes, head.proba(embeddings))


def e5_theme(embeddings: np.ndarray) -> np.ndarray:
    """The most likely of the shipped topics (``labelled.TOPICS``) of each embedded text."""
    head: LinearHead = heads()["theme"]
    return head.predict(embeddings)


class FastSentiment:
    """The fast model: logistic regression over ``fast_features``, fitted on labelled texts."""

    def __init__(self, c: float = FAST_C) -> None:
        self.c = c

    def fit(self, texts: Sequence[str], labels: Sequence[str], features: Any = None) -> FastSentiment:
        """Learn from ``texts`` and their labels (``features`` may pass their precomputed rows)."""
        x = fast_features(texts) if features is None else features
        self.model_ = SparseLinear(self.c).fit(x, labels)
        return self

    def predict(self, texts: Sequence[str], features: Any = None) -> Sentiment:
        """Labels and scores of ``texts`` (or of their precomputed ``features``)."""
        x = fast_features(texts) if features is None else features
        if x.shape[0] == 0:
            return Sentiment(np.empty(0, dtype=object), np.empty(0))
        return of_proba(self.model_.classes_, self.model_.predict_proba(x))


@cache
def fast_model() -> FastSentiment:
    """The fast model fitted on the shipped training sentences (once per process)."""
    train = labelled.examples("train")
    return FastSentiment().fit([e.text for e in train], [e.label for e in train])


def distilled(texts: Sequence[str], labels: Sequence[str], features: Any = None) -> FastSentiment:
    """The fast model fitted on the shipped training sentences plus ``texts`` with e5's ``labels``."""
    train = labelled.examples("train")
    extra = fast_features(texts) if features is None else features
    x = sp.vstack([fast_features([e.text for e in train]), extra], format="csr")
    return FastSentiment().fit([], [e.label for e in train] + list(labels), features=x)


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_sentiment(texts: Sequence[str], languages: Sequence[str | None]) -> Sentiment:
    """VADER's compound score and label for English texts; others get None and NaN."""
    labels = np.full(len(texts), None, dtype=object)
    scores = np.full(len(texts), np.nan)
    analyser = _vader()
    for i, (text, language) in enumerate(zip(texts, languages, strict=True)):
        if language != "en":
            continue
        compound = float(analyser.polarity_scores(text)["compound"])
        scores[i] = compound
        labels[i] = "positive" if compound >= VADER_NEUTRAL else "negative" if compound <= -VADER_NEUTRAL else "neutral"
    return Sentiment(labels, scores)
