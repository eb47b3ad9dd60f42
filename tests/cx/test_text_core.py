"""The feedback-text core without the e5 model: data, normal forms, languages, the analysis pipeline's
mechanics (with an injected stand-in embedder), score effects, keywords, the cache and the generator."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polku.cx.text import labelled
from polku.cx.text.analyse import analyse
from polku.cx.text.embed import DIM, CachedEmbedder
from polku.cx.text.keywords import keywords
from polku.cx.text.normalise import dedupe, guess_languages, normalise
from polku.cx.text.report import MIN_EFFECT_N, report, score_effect
from polku.cx.text.synth import feedback_texts
from polku.errors import InvalidInput


def stand_in(texts: list[str]) -> np.ndarray:
    """A deterministic embedder for mechanics tests: a unit vector seeded by the text's normal form."""
    rows = []
    for t in texts:
        seed = int.from_bytes(hashlib.sha256(normalise(t).encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).normal(size=DIM)
        rows.append(v / np.linalg.norm(v))
    return np.array(rows, dtype=np.float32).reshape(len(texts), DIM)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def test_the_labelled_sets_are_large_balanced_and_apart() -> None:
    train, test = labelled.examples("train"), labelled.examples("test")
    for lang in ("en", "fi"):
        tr = [e for e in train if e.language == lang]
        te = [e for e in test if e.language == lang]
        assert len(tr) >= 250 and len(te) >= 100
        for split in (tr, te):
            assert {e.label for e in split} == set(labelled.LABELS)
            assert {e.topic for e in split} == set(labelled.TOPICS)
    assert len({e.id for e in train + test}) == len(train) + len(test)
    # no held-out sentence is a training sentence or a near copy of one (word-set Jaccard under 0.7)
    train_words = [_words(e.text) for e in train]
    for e in test:
        w = _words(e.text)
        closest = max(len(w & t) / len(w | t) for t in train_words)
        assert closest < 0.7, f"{e.id} is close to a training sentence ({closest:.2f}): {e.text}"
    assert len(labelled.tickets()) >= 10 and {t.language for t in labelled.tickets()} == {"en", "fi"}


def test_normal_forms_and_dedupe() -> None:
    assert normalise("  Great   SERVICE!! ") == normalise("great service") == "great service"
    keys, inverse, counts = dedupe(["Great service!", "great service", "Lasku oli väärin.", "  GREAT SERVICE "])
    assert keys == ["great service", "lasku oli väärin"]
    assert inverse.tolist() == [0, 0, 1, 0] and counts.tolist() == [3, 1]


def test_languages_are_told_apart() -> None:
    test = labelled.examples("test")
    guessed = guess_languages([e.text for e in test])
    assert np.mean([g == e.language for g, e in zip(guessed, test, strict=True)]) >= 0.98
    assert guess_languages(["Great service", "Laskutus toimii", "Hyvä"]) == ["en", "fi", "fi"]


def _frame(n: int = 400, seed: int = 3) -> pd.DataFrame:
    return feedback_texts(n, seed=seed).drop(columns=["topic", "sentiment"])


def test_auto_embeds_a_sample_and_labels_every_text() -> None:
    frame = _frame()
    calls: list[int] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return stand_in(texts)

    a = analyse(frame, model="auto", sample=50, seed=1, embed=counting)
    assert calls == [50] and a.embedded == 50
    assert len(a.texts) == len(frame) and a.texts["label"].notna().all() and a.texts["topic"].notna().all()
    assert set(a.texts["label"]) <= set(labelled.LABELS)
    assert a.texts["sentiment"].between(-1, 1).all()
    assert a.distinct["count"].sum() == len(frame) and len(a.distinct) == frame["text"].map(normalise).nunique()
    # identical texts share one result
    same = a.texts.groupby("distinct")[["label", "topic"]].nunique()
    assert (same == 1).all().all()


def test_the_analysis_is_deterministic_given_the_seed() -> None:
    frame = _frame()
    one = analyse(frame, sample=60, seed=5, embed=stand_in)
    two = analyse(frame, sample=60, seed=5, embed=stand_in)
    other = analyse(frame, sample=60, seed=6, embed=stand_in)
    cols = ["id", "label", "sentiment", "topic"]
    pd.testing.assert_frame_equal(one.texts[cols], two.texts[cols])
    assert report(one)["topics"] == report(two)["topics"]
    assert not one.distinct["embedded"].equals(other.distinct["embedded"])


def test_e5_fast_and_vader_models() -> None:
    frame = _frame(120)
    e5 = analyse(frame, model="e5", sample=10, embed=stand_in)
    assert e5.embedded == len(e5.distinct)  # e5 embeds every distinct text, whatever the sample
    fast = analyse(frame, model="fast", sample=30, embed=stand_in)
    assert fast.texts["label"].notna().all()
    vader = analyse(frame, model="vader", sample=30, embed=stand_in)
    english = vader.texts["language"] == "en"
    assert vader.texts.loc[english, "label"].notna().all() and vader.texts.loc[~english, "label"].isna().all()
    r = report(vader)
    assert r["sentiment"]["n"] == int(english.sum())


@pytest.mark.parametrize(("frame", "kwargs", "message"), [
    (pd.DataFrame({"text": ["a"]}), {}, "no id column"),
    (pd.DataFrame({"id": [1, 2], "text": ["fine", "  "]}), {}, "empty or not text"),
    (pd.DataFrame({"id": [1], "text": [None]}), {}, "empty or not text"),
    (pd.DataFrame({"id": [1], "text": ["fine"]}), {"model": "bert"}, "unknown sentiment model 'bert'"),
    (pd.DataFrame({"id": [1], "text": ["fine"]}), {"sample": 0}, "sample must be between"),
    ([{"id": 1, "text": "fine"}], {}, "pandas DataFrame or an Arrow table"),
])
def test_bad_input_is_named(frame: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        analyse(frame, embed=stand_in, **kwargs)  # type: ignore[arg-type]


def test_an_arrow_table_and_an_empty_frame() -> None:
    import pyarrow as pa

    a = analyse(pa.table({"id": ["x", "y"], "text": ["Great service", "Huono palvelu"]}), embed=stand_in)
    assert len(a.texts) == 2
    empty = report(analyse(pd.DataFrame({"id": [], "text": []}), embed=stand_in))
    assert empty["texts"] == 0 and empty["topics"] == [] and empty["drags"] == []


def test_nps_effect_with_its_interval() -> None:
    inside = [0.0] * 10 + [10.0] * 10  # NPS 0
    outside = [10.0] * 15 + [8.0] * 5  # NPS 75
    e = score_effect("nps", inside, outside)
    assert e is not None and (e["n"], e["value"], e["rest"], e["effect"]) == (20, 0.0, 75.0, -75.0)
    se_in = np.sqrt((0.5 + 0.5 - 0.0) / 20) * 100
    se_out = np.sqrt((0.75 - 0.75**2) / 20) * 100
    half = 1.959964 * np.sqrt(se_in**2 + se_out**2)
    assert e["effect_ci"] == pytest.approx([round(-75 - half, 1), round(-75 + half, 1)], abs=0.05)
    assert e["drags_down"] is True
    few = score_effect("nps", [0.0] * (MIN_EFFECT_N - 1), outside)
    assert few is not None and few["effect"] == -175.0 and few["effect_ci"] is None and few["drags_down"] is False
    assert score_effect("nps", [], outside) is None
    csat = score_effect("csat", [2.0, 3.0] * 6, [5.0, 4.0] * 6)
    assert csat is not None and csat["effect"] == -2.0 and csat["drags_down"] is True
    custom = score_effect("effort", [2.0, 3.0] * 6, [5.0, 4.0] * 6)
    assert custom is not None and custom["effect"] == -2.0 and custom["drags_down"] is False  # direction unknown


def test_keywords_set_groups_apart() -> None:
    texts = ["The invoice was wrong", "Invoices are late", "Lasku oli väärin", "Laskun summa väärin",
             "The portal is slow", "Portaali on hidas", "Portal login fails"]
    groups = ["inv", "inv", "inv", "inv", "por", "por", "por"]
    words = keywords(texts, groups)
    assert {"invoice", "väärin"} <= set(words["inv"][:4]) and words["por"][0] in ("portal", "portaali")


def test_the_embedding_cache_embeds_each_text_once(tmp_path: Path) -> None:
    seen: list[str] = []

    def counting(texts: list[str]) -> np.ndarray:
        seen.extend(texts)
        return stand_in(texts)

    path = tmp_path / "cache" / "e5.npz"
    cache = CachedEmbedder(counting, path)
    first = cache(["Great service", "Lasku väärin", "great service!"])
    again = cache(["GREAT SERVICE", "Lasku väärin", "New text"])
    assert seen == ["Great service", "Lasku väärin", "New text"] and cache.embedded == 3
    np.testing.assert_array_equal(first[0], again[0])
    cache.save()
    reloaded = CachedEmbedder(counting, path)
    np.testing.assert_array_equal(reloaded(["new text"]), again[2:3])
    assert reloaded.embedded == 0 and len(seen) == 3


def test_the_generator_is_seeded_and_never_repeats_a_labelled_sentence() -> None:
    a, b = feedback_texts(3000, seed=9), feedback_texts(3000, seed=9)
    pd.testing.assert_frame_equal(a, b)
    held_out = {normalise(e.text) for e in labelled.examples("test")}
    assert not held_out & set(a["text"].map(normalise))
    assert set(a["language"]) == {"en", "fi"} and a["score"].between(0, 10).all()
    assert a["text"].nunique() > 2000


def test_the_package_surface() -> None:
    import polku.cx.text as text

    from polku.cx.text.analyse import analyse as analyse_fn
    from polku.cx.text.report import report as report_fn

    assert sorted(text.__all__) == ["Analysis", "feedback", "feedback_frame", "score_texts"]
    assert all(callable(getattr(text, name)) for name in text.__all__)
    assert callable(analyse_fn) and callable(report_fn)
    with pytest.raises(AttributeError):
        text.nothing  # noqa: B018
