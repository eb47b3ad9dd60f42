"""Invitations: one row per (survey, contact, occasion) and a signed link to the answer page.

Planning an invitation reads (contacts, their accounts' journey phase, the trigger event);
storing it is a write (run it in the server's writer thread, or with the workspace to
yourself). The link is ``{base}/s/{token}``; see ``polku.cx.surveys.tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from polku import profiles
from polku.cx.surveys import tokens
from polku.cx.surveys.definitions import INVITE_CHANNELS, Survey
from polku.errors import InvalidInput, NotFound
from polku.store import cx_surveys as sql
from polku.store.duck import DuckStore

if TYPE_CHECKING:
    from polku.workspace import Workspace

MAX_INVITES: Final[int] = 1000  # contacts per request
PHASES: Final[dict[str, str]] = {"pre_purchase": "pre-purchase", "purchase": "purchase", "post_purchase": "post-purchase"}


@dataclass(frozen=True)
class Occasion:
    """Why and how an invitation is made: channel, language wish, trigger touchpoint, journey enrolment."""

    channel: str = "link"
    language: str | None = None
    trigger_event_id: str | None = None
    trigger_type: str | None = None
    enrolment_id: str | None = None


def identity_of(person: dict[str, Any]) -> str:
    """A contact's strongest identifier, as the event log names identities (crm:…, email:…, else its anchor)."""
    if person.get("crm_id"):
        return f"crm:{person['crm_id']}"
    if person.get("email"):
        return f"email:{person['email']}"
    return str(person["anchor"])


def phase_of(journey_stage: str | None) -> str | None:
    """A journey stage in the survey answers' spelling (``pre-purchase``, ``purchase``, ``post-purchase``)."""
    return PHASES.get(journey_stage or "", journey_stage or None)


def known_language(survey: Survey, *wanted: str | None) -> str | None:
    """The first wanted language the survey has, or None (the page then follows the browser's Accept-Language)."""
    for lang in wanted:
        if lang and survey.language_for(lang) == lang.strip().lower().replace("_", "-").split("-")[0]:
            return survey.language_for(lang)
    return None


def invite_row(survey: Survey, person: dict[str, Any], occasion: Occasion, now: datetime) -> dict[str, Any]:
    """A new invitation of one contact (a row of survey_invites)."""
    if occasion.channel not in INVITE_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(INVITE_CHANNELS)}, got {occasion.channel!r}")
    return {
        "invite_id": tokens.new_invite_id(), "survey_id": survey.id, "identity": identity_of(person),
        "contact_id": person["contact_id"], "account_id": person.get("account_id"),
        "trigger_event_id": occasion.trigger_event_id, "trigger_type": occasion.trigger_type,
        "phase": phase_of(person.get("phase")),
        "language": known_language(survey, occasion.language, person.get("language")),
        "channel": occasion.channel, "enrolment_id": occasion.enrolment_id,
        "max_answers": survey.max_answers_per_invite, "answers": 0,
        "created_at": now, "expires_at": now + timedelta(seconds=survey.expires), "answered_at": None,
    }


def url_of(base: str, secret_hex: str, invite_id: str, *, embed: bool = False) -> str:
    """The answer page of an invitation (``embed`` gives the page without its frame, for a portal's iframe)."""
    return f"{base.rstrip('/')}/s/{tokens.make(secret_hex, invite_id)}" + ("?embed=1" if embed else "")


def public_base(home: Path) -> str:
    """Where people reach this server: nurture.yaml's tracking_url if set, else http://POLKU_HOST:POLKU_PORT."""
    from polku.config import Settings
    from polku.nurture.loader import load_policy

    problems: list[Any] = []
    policy = load_policy(home, problems)
    if policy.tracking_url and not problems:
        return policy.tracking_url.rstrip("/")
    settings = Settings()
    return f"http://{settings.host}:{settings.port}"


def plan(ws: Workspace, survey: Survey, keys: list[str], occasion: Occasion, now: datetime) -> list[dict[str, Any]]:
    """Invitation rows for contacts named by id, e-mail, CRM id or anonymous id; all or nothing (reads only)."""
    if not keys:
        raise InvalidInput("name at least one contact")
    if len(keys) > MAX_INVITES:
        raise InvalidInput(f"at most {MAX_INVITES} contacts at a time, got {len(keys)}")
    if occasion.language is not None and occasion.language not in survey.languages:
        raise InvalidInput(f"survey {survey.id!r} has no language {occasion.language!r} (it has {', '.join(survey.languages)})")
    store = ws.store
    found: list[tuple[str, str]] = []
    missing: list[str] = []
    for key in keys:
        try:
            found.append((key, profiles.find_contact_id(store, str(key))))
        except NotFound:
            missing.append(key)
    if missing:
        raise InvalidInput(f"no contact for {len(missing)} of the keys: {', '.join(map(str, missing[:20]))}; nobody was invited",
                           details=[{"field": "contacts", "reason": f"no contact {k!r}"} for k in missing])
    if occasion.trigger_event_id is not None and occasion.trigger_type is None:
        event = sql.event_by_id(store, occasion.trigger_event_id)
        if event is None:
            raise InvalidInput(f"no event {occasion.trigger_event_id!r} to name as the trigger",
                               details=[{"field": "trigger_event_id", "reason": "no such event"}])
        occasion = Occasion(occasion.channel, occasion.language, occasion.trigger_event_id, event["type"], occasion.enrolment_id)
    people = sql.people(store, [cid for _, cid in found])
    stale = [key for key, cid in found if cid not in people]
    if stale:
        raise InvalidInput(f"the contacts {', '.join(stale[:20])} are not resolved yet; refresh the workspace and try again")
    if occasion.channel == "email":
        without = [key for key, cid in found if not people[cid].get("email")]
        if without:
            raise InvalidInput(f"{len(without)} contact(s) have no e-mail address: {', '.join(without[:20])}; nobody was invited")
    return [invite_row(survey, people[cid], occasion, now) for cid in dict.fromkeys(cid for _, cid in found)]


def store_invites(store: DuckStore, rows: list[dict[str, Any]]) -> str:
    """Store invitation rows (call inside a write); returns the secret their links are signed with."""
    secret = tokens.secret(store)
    sql.insert_invites(store, rows)
    return secret


def described(row: dict[str, Any], base: str, secret_hex: str) -> dict[str, Any]:
    """An invitation as the API and CLI show it: who, which survey, its links, until when."""
    return {
        "invite_id": row["invite_id"], "survey": row["survey_id"], "contact_id": row["contact_id"],
        "identity": row["identity"], "channel": row["channel"], "language": row["language"],
        "trigger": {"event_id": row["trigger_event_id"], "type": row["trigger_type"]} if row["trigger_event_id"] else None,
        "phase": row["phase"], "answers": row["answers"], "max_answers": row["max_answers"],
        "created_at": row["created_at"], "expires_at": row["expires_at"],
        "url": url_of(base, secret_hex, row["invite_id"]),
        "embed_url": url_of(base, secret_hex, row["invite_id"], embed=True),
    }


def open_for(ws: Workspace, key: str, base: str, now: datetime, survey_id: str | None = None) -> dict[str, Any]:
    """A contact's invitations still open, with links (for a customer portal to show or embed)."""
    store = ws.store
    contact_id = profiles.find_contact_id(store, key)
    rows = sql.open_invites(store, contact_id, now, survey_id)
    secret = store.meta(tokens.SECRET_KEY)
    return {"contact_id": contact_id,
            "invites": [described(r, base, secret) for r in rows] if secret is not None else []}
