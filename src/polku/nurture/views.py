"""A contact's journeys for the 360° view: enrolments with step history and messages, requests, and lists."""

from __future__ import annotations

from typing import Any

from polku.store import nurture as sql
from polku.store.duck import DuckStore


def enrolments_for_contact(store: DuckStore, contact_id: str) -> list[dict[str, Any]]:
    """Every enrolment of a contact, newest first, each with its step history and messages.

    Keys of each item: enrolment_id, journey_id, journey_name, entry, arm, status, step_id,
    due_at, enrolled_at, trigger, goal_at, ended_at, end_reason, history (step_id, kind, ts,
    outcome, detail; oldest first) and messages (message_id, step_id, channel, status,
    sent_at, opened, clicked, ...).
    """
    enrolments = sql.contact_enrolments(store, contact_id)
    if not enrolments:
        return []
    ids = [e["enrolment_id"] for e in enrolments]
    history: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for h in sql.contact_history(store, ids):
        history[h.pop("enrolment_id")].append(h)
    messages: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for m in sql.contact_messages(store, ids):
        messages[m.pop("enrolment_id")].append(m)
    keep = ("enrolment_id", "journey_id", "journey_name", "entry", "arm", "status", "step_id", "due_at", "enrolled_at",
            "trigger", "goal_at", "ended_at", "end_reason")
    return [{**{k: e[k] for k in keep}, "history": history[e["enrolment_id"]], "messages": messages[e["enrolment_id"]]}
            for e in enrolments]


def requests_for_contact(store: DuckStore, contact_id: str) -> list[dict[str, Any]]:
    """A contact's enrolment requests (manual, API or enrol steps) and what became of them."""
    return sql.contact_requests(store, contact_id)


def lists_for_contact(store: DuckStore, contact_id: str) -> list[dict[str, Any]]:
    """The segments (and stage or score conditions) of journeys' triggers the contact is inside, as of the last tick."""
    return sql.contact_memberships(store, contact_id)
