"""Text preparation: a normal form for de-duplication and an English/Finnish language guess."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache
from typing import Any, Final

import numpy as np

_SPACE: Final = re.compile(r"\s+")
_WORD: Final = re.compile(r"[^\W\d_]+", re.UNICODE)
_EDGE: Final = " \t\n\r.,;:!?…\"'()[]-–—"
# Frequent function words: enough to tell the two languages apart in short feedback.
_FI: Final = frozenset(
    "ja on ei ole oli että se ovat olla kun mutta myös kuin vain jo niin sen tai mitä meille meidän "
    "teidän olemme oli ollut eikä joka ovat kanssa koko aina vielä hyvin todella kiitos liian "
    "hyvä hyvää huono huonoa palvelu palvelua toimitus tuki laatu hinta loistava erinomainen".split()
)
_EN: Final = frozenset(
    "the and is was are were not to of in for with on it this that we our you your have has had "
    "be been very too but at from by as an a thanks thank "
    "good great bad poor nice fine excellent service support delivery price quality".split()
)


def normalise(text: str) -> str:
    """The text's normal form: Unicode NFKC, case-folded, whitespace collapsed, edge punctuation off."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip(_EDGE)


def dedupe(texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The distinct normal forms (in order of first appearance), each text's index into them, and counts."""
    index: dict[str, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        inverse[i] = index.setdefault(normalise(text), len(index))
    counts = np.bincount(inverse, minlength=len(index)) if len(texts) else np.zeros(0, dtype=np.int64)
    return list(index), inverse, counts


@cache
def _language_model() -> Any:
    """English-or-Finnish from hashed words and character 5-grams, fitted on the shipped training sentences."""
    from polku.cx.text import labelled
    from polku.cx.text.features import SparseLinear, fast_features

    train = labelled.examples("train")
    return SparseLinear(10.0).fit(fast_features([e.text for e in train]), [e.language for e in train])


def _by_words(text: str) -> str | None:
    """``fi`` or ``en`` when function words and Finnish letters say so, else None."""
    words = _WORD.findall(text.casefold())
    fi = sum(w in _FI for w in words) + sum(ch in "äö" for ch in text.casefold())
    en = sum(w in _EN for w in words)
    return None if fi == en else "fi" if fi > en else "en"


def guess_languages(texts: Sequence[str]) -> list[str]:
    """``fi`` or ``en`` for each text: by function words and Finnish letters, else by a character model.

    Only these two languages are told apart; a text in another language gets the nearer one.
    """
    out = [_by_words(t) for t in texts]
    undecided = [i for i, lang in enumerate(out) if lang is None]
    if undecided:
        from polku.cx.text.features import fast_features

        for i, lang in zip(undecided, _language_model().predict(fast_features([texts[i] for i in undecided])), strict=True):
            out[i] = str(lang)
    return [str(lang) for lang in out]


def languages_of(texts: Sequence[str], given: Sequence[object] | None = None) -> list[str]:
    """The given language of each text (lower-cased) where there is one, else the guess."""
    given = list(given) if given is not None else [None] * len(texts)
    missing = [i for i, lang in enumerate(given) if not (isinstance(lang, str) and lang)]
    guessed = dict(zip(missing, guess_languages([texts[i] for i in missing]), strict=True))
    return [guessed[i] if i in guessed else str(lang).lower() for i, lang in enumerate(given)]
