"""The feedback topics page (/cx/feedback): topics of the survey comments with volume, sentiment, effect on
NPS (and CSAT, CES) and example quotes.

It appears only when the feedback text package (``polku.cx.text``) imports and some answer has
a comment. The numbers are ``polku.cx.text.report.report`` of ``analyse`` over the comments
(``polku.web.cx_data.feedback``, cached), the shape ``GET /v1/cx/feedback`` answers.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from polku.web import cx_charts, cx_data, users
from polku.web.cx_charts import Dot
from polku.web.cx_tables import label, num
from polku.web.pages import Page
from polku.web.site import Site
from polku.web.tables import Column, Table, csv_response, pick

EFFECT_RANGE: Final = {"nps": (-200.0, 200.0), "csat": (-4.0, 4.0), "ces": (-6.0, 6.0)}  # widest differences


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * float(x), 1)


def _effect(topic: Mapping[str, Any], measure: str) -> Mapping[str, Any]:
    return topic.get("scores", {}).get(measure) or {}


def topics_table(result: Mapping[str, Any]) -> Table:
    """One row per topic, largest first: volume, sentiment, the NPS/CSAT/CES of its answers and the effect on NPS."""
    rows = []
    for t in result["topics"]:
        s = t.get("sentiment") or {}
        nps = _effect(t, "nps")
        ci = nps.get("effect_ci") or [None, None]
        rows.append({
            "topic": t["topic"], "label": t["label"], "kind": t["kind"], "volume": t["volume"],
            "share": _pct(t.get("share")), "sentiment": s.get("mean"), "negative": _pct(s.get("negative")),
            "positive": _pct(s.get("positive")), "nps": nps.get("value"), "nps_rest": nps.get("rest"),
            "nps_effect": nps.get("effect"), "nps_effect_low": ci[0], "nps_effect_high": ci[1],
            "drags": ", ".join(label(m) for m, e in t.get("scores", {}).items() if e.get("drags_down")) or "no",
            "keywords": ", ".join(t.get("keywords") or []),
            "languages": ", ".join(f"{k} {v}" for k, v in (t.get("languages") or {}).items()),
            "example": (t.get("examples") or [None])[0],
        })
    return Table("topics", "Feedback topics", [
        Column("label", "Topic"), Column("kind", "Kind"), num("volume", "Comments"), num("share", "Share (%)"),
        num("sentiment", "Sentiment (−1 to 1)"), num("negative", "Negative (%)"), num("positive", "Positive (%)"),
        num("nps", "NPS of its answers"), num("nps_rest", "NPS of the other comments"),
        num("nps_effect", "Effect on NPS (points)"), num("nps_effect_low", "Effect from"),
        num("nps_effect_high", "Effect to"), Column("drags", "Drags down"), Column("keywords", "Keywords"),
        Column("languages", "Languages"), Column("example", "Example"), Column("topic", "Id")], rows,
        note=("The effect compares the answers whose comment is in the topic with the other answers that have a "
              "comment; a topic drags a measure down when its whole interval is on the worse side."),
        empty="No comments to group yet.")


def examples_table(result: Mapping[str, Any]) -> Table:
    """Each topic's example quotes (its most typical comments)."""
    rows = [{"topic": t["topic"], "label": t["label"], "n": i + 1, "quote": q}
            for t in result["topics"] for i, q in enumerate(t.get("examples") or [])]
    return Table("examples", "Example quotes", [Column("label", "Topic"), num("n", "#"), Column("quote", "Quote"),
                                                Column("topic", "Id")], rows, empty="No quotes.")


def drags_table(result: Mapping[str, Any]) -> Table:
    """Topics whose answers score clearly worse than the other comments', by measure."""
    rows = [{**d, "measure_label": label(d["measure"]), "low": (d.get("effect_ci") or [None, None])[0],
             "high": (d.get("effect_ci") or [None, None])[1]} for d in result.get("drags", [])]
    return Table("drags", "Topics that drag the scores down", [
        Column("label", "Topic"), Column("measure_label", "Measure"), num("effect", "Effect"), num("low", "From"),
        num("high", "To"), Column("topic", "Id")], rows,
        empty="No topic drags a score down clearly (with this many comments).")


def feedback_charts(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Comments per topic, and each topic's effect on NPS with its interval."""
    topics: Sequence[Mapping[str, Any]] = result["topics"]
    if not topics:
        return []
    out = [{"id": "chart-topics", "caption": "Comments per topic", "height": cx_charts.height_for(len(topics)),
            "option": cx_charts.topic_volumes("Comments per topic", [t["label"] for t in topics],
                                              [t["volume"] for t in topics],
                                              [(t.get("sentiment") or {}).get("mean") for t in topics])}]
    dots = []
    for t in topics:
        e = _effect(t, "nps")
        if e.get("effect") is None:
            continue
        low, high = e.get("effect_ci") or [None, None]
        dots.append(Dot(t["label"], e["effect"], low, high, n=int(e.get("n") or 0)))
    if dots:
        lo, hi = EFFECT_RANGE["nps"]
        out.append({"id": "chart-topic-nps", "height": cx_charts.height_for(len(dots)),
                    "caption": "Effect of each topic on NPS, in points, with its interval (below 0: drags NPS down)",
                    "option": cx_charts.dot_plot("Effect on NPS", dots, low=lo, high=hi, zero=True)})
    return out


def router(site: Site) -> APIRouter:
    """GET /cx/feedback."""
    from polku.web.cx_pages import cx_pages

    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])
    reader = site.needs("read")

    @api.get("/cx/feedback")
    def feedback(request: Request, user: Annotated[users.SignedIn, Depends(reader)],
                 export: str | None = None) -> Response:
        """Topics of the comments with volume, sentiment, effect on the scores and example quotes."""
        result = cx_data.feedback(site.ws)
        tables = [topics_table(result), drags_table(result), examples_table(result)]
        if export:
            return csv_response(pick(tables, export), f"feedback-{export}")
        return site.render(request, "cx_feedback.html", title="Feedback topics", tables={t.name: t for t in tables},
                           result=result, charts=feedback_charts(result), cx_pages=cx_pages(site, user))

    return api


PAGE: Final = Page("cx_feedback", "Feedback topics", "/cx/feedback", routes=router, available=cx_data.has_feedback,
                   nav=False, order=63)
