"""The shipped e5 heads come from the shipped training sentences: a refit reproduces them, and the
stored training embeddings are what e5 gives for those sentences."""

from __future__ import annotations

import json

import numpy as np

from polku.cx.text import labelled
from polku.cx.text.embed import e5_embed
from polku.cx.text.sentiment import HEADS_FILE, LinearHead, heads
from polku.cx.text.train import TOLERANCE, fit_head, training_embeddings, training_set_digest


def test_a_refit_reproduces_the_shipped_heads() -> None:
    shipped = json.loads((labelled.DATA / HEADS_FILE).read_text(encoding="utf-8"))
    meta = shipped["meta"]
    assert meta["training_sha256"] == training_set_digest(), "the training sentences changed: run polku.cx.text.train"
    x = training_embeddings()
    train = labelled.examples("train")
    for name, labels in (("sentiment", [e.label for e in train]), ("theme", [e.topic for e in train])):
        c = meta[name]["C"]
        head, info = fit_head(x, labels, grid=(c,))  # the chosen C; its cross-validated accuracy must match too
        assert info["cv_accuracy"][str(c)] == meta[name]["cv_accuracy"][str(c)]
        stored = LinearHead.from_dict(shipped[name])
        assert head.classes == stored.classes
        assert np.max(np.abs(head.coef - stored.coef)) <= TOLERANCE
        assert np.max(np.abs(head.intercept - stored.intercept)) <= TOLERANCE
    # the chosen C is the best of the grid in the recorded cross-validation (smaller on ties)
    for name in ("sentiment", "theme"):
        cv = meta[name]["cv_accuracy"]
        assert cv[str(meta[name]["C"])] == max(cv.values())


def test_the_stored_training_embeddings_are_e5s() -> None:
    train = labelled.examples("train")
    x = training_embeddings()
    assert x.shape == (len(train), 384)
    picks = list(range(0, len(train), len(train) // 24))[:24]
    fresh = e5_embed([train[i].text for i in picks])
    np.testing.assert_allclose(fresh.astype(np.float16).astype(np.float32), x[picks], atol=2e-3)


def test_the_heads_classify_their_own_training_set() -> None:
    train = labelled.examples("train")
    x = training_embeddings()
    sentiment, theme = heads()["sentiment"], heads()["theme"]
    assert np.mean(sentiment.predict(x) == np.array([e.label for e in train], dtype=object)) > 0.9
    assert np.mean(theme.predict(x) == np.array([e.topic for e in train], dtype=object)) > 0.9
