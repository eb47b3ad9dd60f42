"""The pure core: the sentiment and topic of every text in a frame, fast enough for 100,000 texts.

Input: a pandas DataFrame (or Arrow table) with ``id`` and ``text`` and optionally ``language``
(guessed where missing) and any other columns (contact_id, account_id, ts, measure, score...),
which are carried along. A text id may repeat (one row per survey measure); it is analysed once.

How it stays fast: identical texts (after ``normalise``) are analysed once; e5, the slow and
accurate model, embeds at most ``sample`` distinct texts (drawn at random, weighted by how
often each occurs, with the seed); topics are found on those embeddings; every other distinct
text gets its sentiment and topic from fast linear models over hashed words and character
5-grams, fitted on the shipped training sentences plus the sample as e5 labelled it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import scipy.sparse as sp

from polku.cx.text import labelled
from polku.cx.text.embed import Embedder, e5_embed
from polku.cx.text.features import SparseLinear, fast_features
from polku.cx.text.names import DEFAULT_SAMPLE, MODELS
from polku.cx.text.normalise import dedupe, languages_of
from polku.cx.text.sentiment import (
    FAST_C, Sentiment, distilled, e5_sentiment, fast_model, vader_sentiment,
)
from polku.cx.text.topics import find_topics
from polku.errors import InvalidInput

MAX_SAMPLE: Final = 100_000


@dataclass(frozen=True)
class Analysis:
    """Per-text and per-distinct-text results, and how they were reached."""

    texts: pd.DataFrame  # one row per id: id, text, language, label, sentiment, topic, distinct, + carried columns
    distinct: pd.DataFrame  # one row per distinct text: text, language, count, label, sentiment, topic, typicality, embedded
    model: str
    embedded: int  # distinct texts that e5 embedded
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)


def check_model(model: str) -> str:
    """The model name, or InvalidInput naming the known ones."""
    if model not in MODELS:
        raise InvalidInput(f"unknown sentiment model {model!r}; choose one of {', '.join(MODELS)}")
    return model


def as_frame(frame: Any) -> pd.DataFrame:
    """The input as a pandas DataFrame with string ids and non-blank texts, or InvalidInput saying what is wrong."""
    if not isinstance(frame, pd.DataFrame):
        if hasattr(frame, "to_pandas"):
            frame = frame.to_pandas()
        else:
            raise InvalidInput(f"texts must be a pandas DataFrame or an Arrow table, not {type(frame).__name__}")
    missing = [c for c in ("id", "text") if c not in frame.columns]
    if missing:
        raise InvalidInput(f"the texts frame has no {' or '.join(missing)} column")
    blank = [str(i) for i, t in zip(frame["id"], frame["text"], strict=True) if not isinstance(t, str) or not t.strip()]
    if blank:
        raise InvalidInput(f"{len(blank)} text(s) are empty or not text, e.g. id {blank[0]!r}")
    out = frame.reset_index(drop=True).copy()
    out["id"] = out["id"].astype(str)
    return out


def _sample(counts: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of ``size`` distinct texts drawn without replacement, weighted by count (all if fewer)."""
    if len(counts) <= size:
        return np.arange(len(counts))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(counts), size=size, replace=False, p=counts / counts.sum()))


def _fit_topics(keys: Sequence[str], features: sp.csr_matrix) -> SparseLinear:
    """A fast topic classifier: the training sentences' themes plus the sample's topics, over hashed features."""
    train = labelled.examples("train")
    x = sp.vstack([fast_features([e.text for e in train]), features], format="csr")
    y = np.array([e.topic for e in train] + list(keys), dtype=object)
    return SparseLinear(FAST_C).fit(x, y)


def analyse(frame: Any, *, model: str = "auto", sample: int = DEFAULT_SAMPLE, seed: int = 0,
            embed: Embedder | None = None) -> Analysis:
    """Sentiment and topic of every text of ``frame`` (see the module docstring)."""
    check_model(model)
    if not 1 <= sample <= MAX_SAMPLE:
        raise InvalidInput(f"sample must be between 1 and {MAX_SAMPLE:,}, not {sample}")
    embed = embed or e5_embed
    clock: dict[str, float] = {}
    started = time.perf_counter()

    rows = as_frame(frame)
    texts = rows.drop_duplicates("id").reset_index(drop=True)
    languages = languages_of(texts["text"].tolist(), texts["language"].tolist() if "language" in texts.columns else None)
    keys, inverse, counts = dedupe(texts["text"].tolist())
    first = np.full(len(keys), -1, dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]  # each distinct text's first row
    d_text = texts["text"].to_numpy()[first].tolist()
    d_lang = [languages[i] for i in first]
    clock["prepare"] = time.perf_counter() - started

    t0 = time.perf_counter()
    chosen = np.arange(len(keys)) if model == "e5" else _sample(counts, sample, seed)
    rest = np.setdiff1d(np.arange(len(keys)), chosen)
    embeddings = embed([d_text[i] for i in chosen])
    clock["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    every = fast_features(d_text) if len(rest) or model == "fast" else None
    clock["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    labels = np.full(len(keys), None, dtype=object)
    scores = np.full(len(keys), np.nan)

    def put(where: np.ndarray, s: Sentiment) -> None:
        labels[where], scores[where] = s.labels, s.scores

    if model in ("e5", "auto"):
        put(chosen, e5_sentiment(embeddings))
        if len(rest):
            student = distilled([], list(labels[chosen]), features=every[chosen])
            put(rest, student.predict([], features=every[rest]))
    elif model == "fast":
        put(np.arange(len(keys)), fast_model().predict([], features=every))
    else:
        put(np.arange(len(keys)), vader_sentiment(d_text, d_lang))
    clock["sentiment"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    found = find_topics(embeddings, [d_lang[i] for i in chosen], counts[chosen], seed=seed)
    topic = np.full(len(keys), None, dtype=object)
    typicality = np.full(len(keys), np.nan)
    topic[chosen], typicality[chosen] = found.keys, found.typicality
    if len(rest):
        topic[rest] = _fit_topics(list(found.keys), every[chosen]).predict(every[rest])
    clock["topics"] = time.perf_counter() - t0

    embedded = np.zeros(len(keys), dtype=bool)
    embedded[chosen] = True
    distinct = pd.DataFrame({"text": d_text, "language": d_lang, "count": counts, "label": labels,
                             "sentiment": scores, "topic": topic, "typicality": typicality, "embedded": embedded})
    out = texts.assign(language=languages, label=labels[inverse], sentiment=scores[inverse],
                       topic=topic[inverse], distinct=inverse)
    clock["total"] = time.perf_counter() - started
    return Analysis(out, distinct, model, int(len(chosen)), seed, clock)
