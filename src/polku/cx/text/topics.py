"""Topics of embedded texts: the shipped B2B themes where e5 is sure, and discovered groups where it is not.

A text belongs to its most likely theme (the shipped ``theme`` head: delivery, service,
support, invoicing, onboarding, portal, sales, quality, price, general) when that theme's
probability is at least ``THEME_CONFIDENCE``. If at least ``MIN_DISCOVERY`` texts are less
sure than that, they are grouped with k-means into discovered topics; embeddings are first
centred per language (so groups form across English and Finnish rather than by language) and
stripped of the sentiment head's directions (so groups form by subject rather than by mood).
Fewer unsure texts stay with their most likely theme. Deterministic given the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from sklearn.cluster import KMeans

from polku.cx.text.sentiment import heads

THEME_CONFIDENCE: Final = 0.3  # on the held-out sentences 97% reach it, and 75% of those are right
MIN_DISCOVERY: Final = 40
TEXTS_PER_DISCOVERED: Final = 25  # k = unsure texts / this, within [2, MAX_DISCOVERED]
MAX_DISCOVERED: Final = 8


@dataclass(frozen=True)
class Topics:
    """Each embedded text's topic key and how typical it is of that topic (higher is more typical)."""

    keys: np.ndarray  # object: a theme name or "discovered-<n>"
    typicality: np.ndarray  # theme probability, or negative distance to the discovered centroid


def themes(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most likely shipped theme of each embedded text and its probability."""
    head = heads()["theme"]
    proba = head.proba(embeddings)
    return np.array(head.classes, dtype=object)[proba.argmax(axis=1)], proba.max(axis=1)


def _subject_space(embeddings: np.ndarray, languages: Sequence[str | None]) -> np.ndarray:
    """Embeddings centred per language, without the sentiment directions, L2-normalised."""
    x = embeddings.astype(np.float64)
    lang = np.array([lang or "?" for lang in languages], dtype=object)
    for value in set(lang):
        m = lang == value
        x[m] -= x[m].mean(axis=0)
    q, _ = np.linalg.qr(heads()["sentiment"].coef.T)
    x -= (x @ q) @ q.T
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)  # type: ignore[no-any-return]


def find_topics(embeddings: np.ndarray, languages: Sequence[str | None], weights: Sequence[int] | None = None,
                seed: int = 0) -> Topics:
    """Topic keys of embedded texts (see the module docstring); ``weights`` count duplicates."""
    keys, proba = themes(embeddings)
    typicality = proba.copy()
    unsure = np.flatnonzero(proba < THEME_CONFIDENCE)
    w = np.ones(len(keys)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(unsure) >= MIN_DISCOVERY:
        x = _subject_space(embeddings[unsure], [languages[i] for i in unsure])
        k = int(np.clip(round(len(unsure) / TEXTS_PER_DISCOVERED), 2, MAX_DISCOVERED))
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x, sample_weight=w[unsure])
        # number discovered topics by size, largest first, so the names do not depend on k-means' order
        sizes = np.bincount(km.labels_, weights=w[unsure], minlength=k)
        rank = {int(c): r + 1 for r, c in enumerate(sorted(range(k), key=lambda c: (-sizes[c], c)))}
        keys[unsure] = [f"discovered-{rank[int(c)]}" for c in km.labels_]
        typicality[unsure] = -np.linalg.norm(x - km.cluster_centers_[km.labels_], axis=1)
    return Topics(keys, typicality)
