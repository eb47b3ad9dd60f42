"""Feedback texts from a workspace: survey comments (with their scores) and ticket texts.

Survey comments are the ``comment`` of ``survey_answered`` events (either property shape of the
CX contract); their scores come from ``polku.cx.answers.answer_rows``, one row per measure.
Tickets are ``ticket_opened`` events with a ``subject`` and/or ``description``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

import ibis.expr.types as ir
import pandas as pd

from polku.analytics.tables import Tables
from polku.cx.answers import ANSWER_EVENT, answer_rows
from polku.errors import NotFound

TICKET_EVENT: Final = "ticket_opened"
COLUMNS: Final = ("id", "text", "language", "ts", "contact_id", "account_id", "source", "measure", "score")


def _props(text: object) -> dict[str, Any]:
    """A properties JSON object, or {} when missing or not an object."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _events(touchpoints: ir.Table, kind: str) -> pd.DataFrame:
    """The events of one type with the columns the texts need, oldest first."""
    tp = touchpoints.filter(touchpoints.type == kind)
    return tp.select("event_id", "ts", "contact_id", "account_id", "properties", "seq").order_by(["ts", "seq"]).execute()


def survey_texts(touchpoints: ir.Table) -> pd.DataFrame:
    """One row per survey answer with a comment: id (the event id), text, language, ts, contact, account."""
    rows = []
    for r in _events(touchpoints, ANSWER_EVENT).to_dict("records"):
        props = _props(r["properties"])
        comment = _text(props.get("comment"))
        if comment:
            rows.append({"id": r["event_id"], "text": comment, "language": _text(props.get("language")),
                         "ts": r["ts"], "contact_id": r["contact_id"], "account_id": r["account_id"], "source": "survey"})
    return pd.DataFrame(rows, columns=list(COLUMNS[:7]))


def ticket_texts(touchpoints: ir.Table) -> pd.DataFrame:
    """One row per opened ticket with a subject or description: the two joined as one text."""
    rows = []
    for r in _events(touchpoints, TICKET_EVENT).to_dict("records"):
        props = _props(r["properties"])
        parts = [p for p in (_text(props.get("subject")), _text(props.get("description"))) if p]
        if parts:
            text = parts[0] if len(parts) == 1 else f"{parts[0].rstrip('.')}. {parts[1]}"
            rows.append({"id": r["event_id"], "text": text, "language": _text(props.get("language")),
                         "ts": r["ts"], "contact_id": r["contact_id"], "account_id": r["account_id"], "source": "ticket"})
    return pd.DataFrame(rows, columns=list(COLUMNS[:7]))


def account_ids(tables: Tables, key: str) -> list[str]:
    """The account with id or domain ``key``, or NotFound."""
    acc = tables.accounts
    found = acc.filter((acc.account_id == key) | (acc.domain == key)).select("account_id").execute()
    if found.empty:
        raise NotFound(f"no account {key!r} (give an account id or domain)")
    return sorted(found["account_id"].tolist())


def _utc(t: datetime | None) -> datetime | None:
    """A timezone-aware time (naive times are UTC)."""
    return t if t is None or t.tzinfo is not None else t.replace(tzinfo=UTC)


def feedback_frame(tables: Tables, *, start: datetime | None = None, end: datetime | None = None,
                   account: str | None = None, tickets: bool = True) -> pd.DataFrame:
    """Survey comments (one row per measure they scored, or one unscored row) and tickets in [start, end).

    Columns: ``COLUMNS``; ``account`` (an id or domain) keeps one account's texts.
    """
    tp = tables.touchpoints
    start, end = _utc(start), _utc(end)
    if start is not None:
        tp = tp.filter(tp.ts >= start)
    if end is not None:
        tp = tp.filter(tp.ts < end)
    if account is not None:
        tp = tp.filter(tp.account_id.isin(account_ids(tables, account)))
    surveys = survey_texts(tp)
    scores = answer_rows(tp)[["event_id", "measure", "score"]].rename(columns={"event_id": "id"})
    surveys = surveys.merge(scores, on="id", how="left")
    parts = [surveys] + ([ticket_texts(tp).assign(measure=None, score=float("nan"))] if tickets else [])
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "score" else "object") for c in COLUMNS})
    frame = pd.concat(parts, ignore_index=True)[list(COLUMNS)]
    frame["score"] = frame["score"].astype("float64")
    return frame
