"""Feedback text for the CLI, the API and Python: score a few texts, or analyse a workspace's feedback.

``score_texts`` needs no workspace. ``feedback`` reads the workspace's survey comments and
tickets, analyses them and returns the topic report; e5 embeddings are kept in
``<workspace>/cache/text-e5.npz`` so a text is embedded once across runs (the file can be
deleted at any time; it is rebuilt as needed).
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from polku.cx.text.analyse import analyse, check_model
from polku.cx.text.embed import CachedEmbedder, e5_embed
from polku.cx.text.names import DEFAULT_SAMPLE
from polku.cx.text.normalise import languages_of
from polku.cx.text.report import report
from polku.cx.text.sentiment import Sentiment, e5_sentiment, fast_model, vader_sentiment
from polku.cx.text.sources import feedback_frame
from polku.cx.text.topics import themes
from polku.errors import InvalidInput

if TYPE_CHECKING:
    from polku.workspace import Workspace

MAX_TEXTS: Final = 100
MAX_CHARS: Final = 5000
CACHE_FILE: Final = Path("cache") / "text-e5.npz"
_caches: dict[Path, CachedEmbedder] = {}
_caches_lock = threading.Lock()


def check_texts(texts: object, languages: object = None) -> tuple[list[str], list[str]]:
    """The texts and languages, or InvalidInput naming every bad item (empty, not text, too long, too many)."""
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InvalidInput("give at least one text")
    if len(texts) > MAX_TEXTS:
        raise InvalidInput(f"at most {MAX_TEXTS} texts at a time, got {len(texts)}",
                           details=[{"field": "texts", "reason": f"{len(texts)} texts; the limit is {MAX_TEXTS}"}])
    problems = []
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            problems.append({"item": i, "field": "text", "reason": "empty or not text"})
        elif len(text) > MAX_CHARS:
            problems.append({"item": i, "field": "text", "reason": f"{len(text):,} characters; the limit is {MAX_CHARS:,}"})
    if languages is not None and (not isinstance(languages, (list, tuple)) or len(languages) != len(texts)):
        problems.append({"field": "languages", "reason": "must list one language (or null) per text"})
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) with the texts, e.g. item {problems[0].get('item', '-')}: "
                           f"{problems[0]['reason']}", details=problems)
    items = list(texts)
    return items, languages_of(items, list(languages) if languages is not None else None)


def score_texts(texts: object, *, model: str = "auto", languages: object = None) -> dict[str, Any]:
    """Sentiment (label, score in [-1, 1]) of up to ``MAX_TEXTS`` texts; with e5, also the likely theme."""
    check_model(model)
    items, langs = check_texts(texts, languages)
    theme: np.ndarray | None = None
    if model in ("auto", "e5"):  # a few texts: auto is e5
        embeddings = e5_embed(items)
        s: Sentiment = e5_sentiment(embeddings)
        theme, proba = themes(embeddings)
    elif model == "fast":
        s = fast_model().predict(items)
    else:
        s = vader_sentiment(items, langs)
    results = []
    for i, text in enumerate(items):
        row: dict[str, Any] = {"text": text, "language": langs[i], "label": s.labels[i],
                               "score": None if np.isnan(s.scores[i]) else round(float(s.scores[i]), 3)}
        if theme is not None:
            row |= {"theme": theme[i], "theme_probability": round(float(proba[i]), 3)}
        results.append(row)
    return {"model": "e5" if model == "auto" else model, "results": results}


def embedding_cache(path: Path) -> CachedEmbedder:
    """The embedding cache kept in ``path`` (a workspace's cache file), loaded once per process."""
    with _caches_lock:
        if path not in _caches:
            _caches[path] = CachedEmbedder(e5_embed, path)
        return _caches[path]


def feedback(ws: Workspace, *, start: datetime | None = None, end: datetime | None = None, account: str | None = None,
             model: str = "auto", sample: int = DEFAULT_SAMPLE, seed: int = 0, tickets: bool = True,
             cache: bool = True) -> dict[str, Any]:
    """The workspace's feedback report: topics with volume, sentiment, keywords, quotes and NPS effects."""
    from polku.cx.config import load_config  # cx.yaml: confidence and which end of CES is better

    check_model(model)
    config = load_config(ws.home)
    frame = feedback_frame(ws.tables(), start=start, end=end, account=account, tickets=tickets)
    embed = embedding_cache(ws.home / CACHE_FILE) if cache else e5_embed
    analysis = analyse(frame, model=model, sample=sample, seed=seed, embed=embed)
    if isinstance(embed, CachedEmbedder):
        embed.save()
    out = report(analysis, frame, confidence=config.confidence, measures=config.measure_defs())
    return {"from": start, "to": end, "account": account, **out}
