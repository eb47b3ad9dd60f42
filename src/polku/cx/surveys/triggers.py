"""Survey triggers: invite a contact after a touchpoint (``polku cx tick``, or the server's tick route).

Each survey keeps a cursor (``cx_survey_cursor.<id>`` in the meta table) over the event log.
A tick looks at the events stored since, and for each one a trigger matches (type and
property filter) that is due (its ``delay`` has passed) and not too old (``max_age``), in
the sample (a hash of survey and event, so a rerun decides the same), whose contact can be
reached on the trigger's channel and was not invited to the survey within the ``cooldown``,
creates one invitation naming the event. An event still waiting for its delay holds the
cursor back, so it is looked at again; an invitation per (survey, trigger event) is made at
most once however often a tick runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from polku.cx.surveys.definitions import Survey, Trigger
from polku.cx.surveys.invites import Occasion, invite_row, store_invites
from polku.store import cx_surveys as sql

if TYPE_CHECKING:
    from polku.workspace import Workspace

CURSOR_KEY = "cx_survey_cursor.{}"


@dataclass
class TickResult:
    """What a trigger tick did: invitations per survey, skipped events by reason, journey requests, warnings."""

    now: datetime
    invites: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    waiting: int = 0  # matching events whose delay has not passed yet
    requested: dict[str, int] = field(default_factory=dict)  # enrolment requests per nurture journey
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass
class _Plan:
    rows: list[dict[str, Any]] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)
    requests: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def sampled(survey_id: str, event_id: str, rate: float) -> bool:
    """Whether an event is in a trigger's sample: a stable hash, so every tick decides alike."""
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{survey_id}|{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _properties(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        data = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _skip(result: TickResult, reason: str) -> None:
    result.skipped[reason] = result.skipped.get(reason, 0) + 1


def _choose(survey: Survey, event: dict[str, Any], now: datetime, result: TickResult) -> tuple[Trigger | None, bool]:
    """The trigger an event fires now (the first that matches), and whether it waits for its delay."""
    props = _properties(event["properties"])
    for trigger in survey.triggers:
        if not trigger.matches(event["type"], props):
            continue
        if event["ts"] < now - timedelta(seconds=trigger.max_age):
            _skip(result, "older than max_age")
            return None, False
        if event["ts"] + timedelta(seconds=trigger.delay) > now:
            return None, True
        if not sampled(survey.id, event["event_id"], trigger.sample):
            _skip(result, "not in the sample")
            return None, False
        return trigger, False
    return None, False


def _plan_survey(ws: Workspace, survey: Survey, now: datetime, plan: _Plan, result: TickResult) -> None:
    store = ws.store
    after = int(store.meta(CURSOR_KEY.format(survey.id)) or 0)
    upto = store.last_seq
    oldest = now - timedelta(seconds=max(t.max_age for t in survey.triggers))
    events = sql.trigger_events(store, sorted({t.event for t in survey.triggers}), after, upto, oldest)
    chosen: list[tuple[dict[str, Any], Trigger]] = []
    held: int | None = None
    for event in events:
        trigger, waits = _choose(survey, event, now, result)
        if waits:
            result.waiting += 1
            held = event["seq"] if held is None else min(held, event["seq"])
        elif trigger is not None:
            chosen.append((event, trigger))
    plan.cursors[CURSOR_KEY.format(survey.id)] = upto if held is None else held - 1
    if not chosen:
        return
    owners = sql.contacts_of(store, [e["identity"] for e, _ in chosen])
    people = sql.people(store, list(owners.values()))
    done = sql.triggered(store, survey.id, [e["event_id"] for e, _ in chosen])
    last = sql.last_invited(store, survey.id, list(owners.values()))
    for event, trigger in chosen:
        cid = owners.get(event["identity"])
        person = people.get(cid or "")
        if event["event_id"] in done:
            _skip(result, "already invited")
        elif person is None:
            _skip(result, "contact not resolved yet")
        elif trigger.channel == "email" and not person.get("email"):
            _skip(result, "no e-mail address")
        elif cid in last and now - last[cid] < timedelta(seconds=trigger.cooldown):
            _skip(result, "invited within the cooldown")
        else:
            occasion = Occasion(trigger.channel, None, event["event_id"], event["type"])
            plan.rows.append(invite_row(survey, person, occasion, now))
            last[str(cid)] = now
            result.invites[survey.id] = result.invites.get(survey.id, 0) + 1
            if trigger.journey:
                plan.requests[trigger.journey].append(str(cid))


def _journeys_ready(ws: Workspace, wanted: set[str], result: TickResult) -> set[str]:
    """Which of the journeys triggers name exist and are active (the others are warned about)."""
    if not wanted:
        return set()
    from polku.errors import ConfigError
    from polku.nurture.loader import load_definitions

    try:
        defs = load_definitions(ws.home)
    except ConfigError as exc:
        result.warnings.append(f"the nurture definitions have problems, so no journey was asked to send: {exc.message}")
        return set()
    ready = {j for j in wanted if j in defs.journeys and defs.journeys[j].status == "active"}
    for j in sorted(wanted - ready):
        result.warnings.append(f"journey {j!r} named by a survey trigger is missing or paused; its invitations wait for the portal or a link")
    return ready


def tick(ws: Workspace, surveys: dict[str, Survey], now: datetime) -> TickResult:
    """Create the invitations triggers call for, once (run it as the workspace's writer: it reads, then writes)."""
    started = time.perf_counter()
    result = TickResult(now=now)
    active = [s for s in surveys.values() if s.triggers]
    if not active:
        return result
    ws.refresh()
    plan = _Plan()
    for survey in active:
        _plan_survey(ws, survey, now, plan, result)
    journeys = _journeys_ready(ws, {t.journey for s in active for t in s.triggers if t.journey}, result)
    store = ws.store
    with store.transaction():
        store_invites(store, plan.rows)
        for key, seq in plan.cursors.items():
            store.set_meta(key, str(seq))
        if journeys and any(plan.requests.get(j) for j in journeys):
            from polku.nurture.ops import request_enrolment

            for journey_id in sorted(journeys):
                contacts = list(dict.fromkeys(plan.requests.get(journey_id, [])))
                if contacts:
                    request_enrolment(ws, journey_id, contacts, source="survey trigger", now=now)
                    result.requested[journey_id] = len(contacts)
    result.seconds = time.perf_counter() - started
    return result
