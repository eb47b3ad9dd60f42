"""Reads behind the score and CX parts of the 360° pages and the overview: each buying-group
member's stored score and latest CX answer, and accounts ranked by score.

Each backs a ``/v1`` route (``GET /v1/accounts/{key}/buying-group``, ``GET /v1/leads/accounts``),
so the dashboard and the outside world get the same answers. Scores are those of the last
rescore (``polku score``); a CX answer is the latest ``survey_answered`` touchpoint, in
either property shape: ``{"scores": {"nps": 9}}`` or the older ``{"survey": "nps", "score": 9}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from polku import profiles
from polku.errors import InvalidInput
from polku.store.duck import DuckStore

ANSWER_EVENT: Final[str] = "survey_answered"
MAX_RANKED: Final[int] = 1000
_LEGACY_MEASURES: Final = frozenset({"nps", "csat", "ces"})


def member_scores(store: DuckStore, contact_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored score (score, grade, fit, engagement, probability, scored_at) of each contact that has one."""
    if not contact_ids:
        return {}
    rows = store.query(
        """SELECT contact_id, score, grade, fit, engagement, probability, scored_at FROM lead_scores
           WHERE contact_id IN (SELECT unnest(?::VARCHAR[]))""",
        [list(contact_ids)],
    )
    return {r.pop("contact_id"): r for r in rows}


def answer_text(properties: Mapping[str, Any]) -> tuple[str | None, dict[str, float]]:
    """The survey name and the measures' scores of one answer, from either property shape."""
    survey = properties.get("survey")
    survey = survey if isinstance(survey, str) and survey else None
    scores = properties.get("scores")
    found: dict[str, float] = {}
    if isinstance(scores, Mapping):
        found = {str(m): float(v) for m, v in scores.items() if _finite(v)}
    elif survey in _LEGACY_MEASURES and _finite(properties.get("score")):
        found = {survey: float(properties["score"])}
    return survey, found


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def latest_answers(store: DuckStore, contact_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each contact's latest CX answer: ``cx_survey``, ``cx_scores`` (measure -> score), ``cx_answer`` (text), ``cx_at``."""
    if not contact_ids:
        return {}
    rows = store.query(
        f"""SELECT i.contact_id, e.ts, e.event_id, e.properties FROM events e JOIN identities i ON i.identity = e.identity
            WHERE e.type = '{ANSWER_EVENT}'
              AND e.identity_key IN (SELECT hash(identity) FROM identities WHERE contact_id IN (SELECT unnest(?::VARCHAR[])))
              AND i.contact_id IN (SELECT unnest(?::VARCHAR[]))
            QUALIFY row_number() OVER (PARTITION BY i.contact_id ORDER BY e.ts DESC, e.seq DESC) = 1""",
        [list(contact_ids), list(contact_ids)],
    )
    out = {}
    for r in rows:
        props = r["properties"]
        if isinstance(props, str):
            try:
                props = json.loads(props)
            except ValueError:
                props = {}
        survey, scores = answer_text(props if isinstance(props, dict) else {})
        text = ", ".join(f"{m.upper()} {v:g}" for m, v in scores.items()) or None
        if survey and survey not in scores:
            text = f"{survey}: {text}" if text else survey
        out[r["contact_id"]] = {"cx_survey": survey, "cx_scores": scores, "cx_answer": text, "cx_at": r["ts"],
                                "cx_event_id": r["event_id"]}
    return out


def with_facts(store: DuckStore, members: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Buying-group members with their stored score and latest CX answer added (None where there is none)."""
    ids = [str(m["contact_id"]) for m in members]
    scores, answers = member_scores(store, ids), latest_answers(store, ids)
    blank = {"score": None, "grade": None, "fit": None, "engagement": None, "probability": None, "scored_at": None,
             "cx_survey": None, "cx_scores": {}, "cx_answer": None, "cx_at": None, "cx_event_id": None}
    return [{**m, **blank, **scores.get(str(m["contact_id"]), {}), **answers.get(str(m["contact_id"]), {})}
            for m in members]


def buying_group(store: DuckStore, key: str) -> dict[str, Any]:
    """An account's buying group (as in GET /v1/accounts/{key}) with each person's score and latest CX answer."""
    view = profiles.account_view(store, key, limit=1)
    return {"account_id": view["account"]["account_id"], "members": with_facts(store, view["buying_group"]),
            "coverage": view["coverage"]}


def accounts_by_score(store: DuckStore, *, limit: int = 10, min_score: float = 0.0) -> list[dict[str, Any]]:
    """Accounts by their stored score, highest first, with buying-group coverage."""
    if not 1 <= limit <= MAX_RANKED:
        raise InvalidInput(f"limit must be between 1 and {MAX_RANKED}, got {limit}")
    return store.query(
        """SELECT s.account_id, a.name, a.domain, a.stage, s.score, s.grade,
                  CAST(json_extract(s.card, '$.fit') AS DOUBLE) AS fit,
                  CAST(json_extract(s.card, '$.engagement') AS DOUBLE) AS engagement,
                  CAST(json_extract(s.card, '$.probability') AS DOUBLE) AS probability,
                  CAST(json_extract(s.card, '$.coverage.contacts') AS INTEGER) AS contacts,
                  CAST(json_extract(s.card, '$.coverage.active') AS INTEGER) AS active_contacts,
                  CAST(json_extract(s.card, '$.coverage.decision_maker_engaged') AS BOOLEAN) AS decision_maker_engaged,
                  s.scored_at
           FROM account_scores s LEFT JOIN accounts a USING (account_id)
           WHERE s.score >= ? ORDER BY s.score DESC, s.account_id LIMIT ?""",
        [min_score, limit],
    )
