"""The feedback report: per topic its volume, sentiment, keywords, example quotes and effect on scores.

A topic's effect on a survey measure compares the answers whose comment is in the topic with
all other answers that carry a comment: for NPS, topic NPS minus the rest's NPS in points, with
a normal interval from the two multinomial standard errors; for CSAT and CES, the difference of
mean answers with the two t standard errors. A topic "drags a measure down" when the whole
interval of its effect lies on the measure's worse side; with fewer than ``MIN_EFFECT_N``
answers on either side there is an effect but no interval and no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import pandas as pd

from polku.cx.measures import ANSWER_SCALES, DEFAULT_CONFIDENCE, MEASURES, Estimate, MeasureDef, mean_interval, z_value
from polku.cx.text.analyse import Analysis
from polku.cx.text.keywords import keywords

EXAMPLES: Final = 3
MIN_EFFECT_N: Final = 10  # answers needed on each side before an effect gets an interval (normal approximation)
EXAMPLE_CHARS: Final = (15, 240)  # examples are quotes of a readable length where there are such


def _estimate(measure: str, scores: list[float], confidence: float,
              measures: Mapping[str, MeasureDef] = MEASURES) -> Estimate | None:
    """The measure's estimate of ``scores`` (answers off its scale dropped); None without answers.

    NPS is NPS; CSAT and CES answers are compared by their means; other scales by the mean too.
    """
    definition = measures.get(ANSWER_SCALES.get(measure, ""))
    if definition is not None:
        scores = [s for s in scores if definition.low <= s <= definition.high]
        return definition.estimate(scores, confidence, 0) if scores else None
    if not scores:
        return None
    mean, se, low, high = mean_interval(scores, confidence)
    return Estimate(measure, mean, len(scores), se, low, high, confidence, "t", False)


def _better(measure: str, measures: Mapping[str, MeasureDef] = MEASURES) -> str | None:
    """Which end of the measure is better (None for custom scales, whose direction is unknown)."""
    definition = measures.get(ANSWER_SCALES.get(measure, ""))
    return None if definition is None else definition.better


def _round(x: float | None, digits: int = 1) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), digits)


def score_effect(measure: str, inside: list[float], outside: list[float], confidence: float = DEFAULT_CONFIDENCE,
                 measures: Mapping[str, MeasureDef] = MEASURES) -> dict[str, Any] | None:
    """The topic's value of a measure, the rest's, and their difference with its interval."""
    topic = _estimate(measure, inside, confidence, measures)
    rest = _estimate(measure, outside, confidence, measures)
    if topic is None:
        return None
    out: dict[str, Any] = {"n": topic.n, "value": _round(topic.value),
                           "ci": [_round(topic.ci_low), _round(topic.ci_high)] if topic.ci_low is not None else None,
                           "rest": _round(rest.value) if rest else None, "effect": None, "effect_ci": None,
                           "drags_down": False}
    if rest is None or topic.value is None or rest.value is None:
        return out
    effect = topic.value - rest.value
    out["effect"] = _round(effect)
    if min(topic.n, rest.n) >= MIN_EFFECT_N and topic.se is not None and rest.se is not None:
        half = z_value(confidence) * math.sqrt(topic.se**2 + rest.se**2)
        out["effect_ci"] = [_round(effect - half), _round(effect + half)]
        better = _better(measure, measures)
        out["drags_down"] = bool((better == "higher" and effect + half < 0) or (better == "lower" and effect - half > 0))
    return out


def _examples(distinct: pd.DataFrame, key: str) -> list[str]:
    """Up to three quotes of the topic: its most typical embedded texts, of a readable length if possible."""
    part = distinct[(distinct["topic"] == key) & distinct["embedded"]]
    part = part.sort_values(["typicality", "count"], ascending=False, kind="stable")
    lo, hi = EXAMPLE_CHARS
    readable = part[part["text"].str.len().between(lo, hi)]
    chosen = readable["text"].head(EXAMPLES).tolist()
    for text in part["text"]:
        if len(chosen) >= EXAMPLES:
            break
        if text not in chosen:
            chosen.append(text)
    return chosen


def _sentiment(part: pd.DataFrame) -> dict[str, Any]:
    """Mean score and label shares of the texts that have a sentiment."""
    scored = part[part["label"].notna()]
    n = len(scored)
    shares = {label: round(float((scored["label"] == label).mean()), 3) if n else None
              for label in ("negative", "neutral", "positive")}
    return {"n": n, "mean": _round(scored["sentiment"].mean(), 3) if n else None, **shares}


def _scores(frame: pd.DataFrame) -> pd.DataFrame:
    """(id, measure, score) rows of the input that carry a numeric score; measure defaults to nps."""
    if "score" not in frame.columns:
        return pd.DataFrame({"id": pd.Series(dtype=object), "measure": pd.Series(dtype=object),
                             "score": pd.Series(dtype="float64")})
    rows = frame[pd.to_numeric(frame["score"], errors="coerce").notna()].copy()
    rows["id"] = rows["id"].astype(str).astype(object)
    rows["score"] = pd.to_numeric(rows["score"]).astype(float)
    rows["measure"] = rows["measure"].fillna("nps") if "measure" in rows.columns else "nps"
    return rows[["id", "measure", "score"]].drop_duplicates()


def report(analysis: Analysis, frame: pd.DataFrame | None = None, *, confidence: float = DEFAULT_CONFIDENCE,
           measures: Mapping[str, MeasureDef] = MEASURES) -> dict[str, Any]:
    """The topic table (largest first) with the overall summary.

    ``frame`` supplies the (id, measure, score) rows (default: the analysed texts' own columns);
    ``measures`` the measure definitions (a workspace's cx.yaml may turn CES's better end).
    """
    texts, distinct = analysis.texts, analysis.distinct
    words = keywords(distinct["text"].tolist(), distinct["topic"].tolist(), distinct["count"].tolist())
    scores = _scores(texts if frame is None else frame).merge(texts[["id", "topic"]], on="id", how="inner")
    present = sorted(scores["measure"].unique()) if len(scores) else []
    topics = []
    for key, part in sorted(texts.groupby("topic"), key=lambda kv: (-len(kv[1]), str(kv[0]))):
        kws = words.get(key, [])
        kind = "discovered" if str(key).startswith("discovered-") else "theme"
        effects = {}
        for m in present:
            ms = scores[scores["measure"] == m]
            inside = ms.loc[ms["topic"] == key, "score"].tolist()
            effect = score_effect(m, inside, ms.loc[ms["topic"] != key, "score"].tolist(), confidence, measures)
            if effect is not None:
                effects[m] = effect
        topics.append({
            "topic": key, "kind": kind,
            "label": key if kind == "theme" else f"{key}: {', '.join(kws[:3])}" if kws else key,
            "keywords": kws, "volume": len(part), "share": round(len(part) / len(texts), 4),
            "languages": {str(k): int(v) for k, v in part["language"].fillna("?").value_counts().sort_index().items()},
            "sentiment": _sentiment(part), "examples": _examples(distinct, key), "scores": effects,
        })
    overall = {}
    for m in present:
        est = _estimate(m, scores.loc[scores["measure"] == m, "score"].tolist(), confidence, measures)
        if est is not None:
            overall[m] = {"n": est.n, "value": _round(est.value),
                          "ci": [_round(est.ci_low), _round(est.ci_high)] if est.ci_low is not None else None}
    drags = sorted(({"topic": t["topic"], "label": t["label"], "measure": m, "effect": e["effect"], "effect_ci": e["effect_ci"]}
                    for t in topics for m, e in t["scores"].items() if e["drags_down"]),
                   key=lambda d: (d["measure"], d["effect"]))
    return {
        "texts": len(texts), "distinct": len(distinct), "embedded": analysis.embedded, "model": analysis.model,
        "seed": analysis.seed, "confidence": confidence,
        "languages": {str(k): int(v) for k, v in texts["language"].fillna("?").value_counts().sort_index().items()},
        "sentiment": _sentiment(texts), "scores": overall, "topics": topics, "drags": drags,
        "seconds": {k: round(v, 3) for k, v in analysis.seconds.items()},
    }
