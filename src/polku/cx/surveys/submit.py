"""Storing an answer: one ``survey_answered`` event and the invitation's answer count, in one write.

``check_invite`` says whether an invitation can be answered now (400/404/409/410 otherwise);
``answer_event`` builds the event (pure); ``record`` is the write. The event id names the
invitation and the answer's number (``survey:{invite}.{n}``), so two submissions racing for
the same invitation cannot both be stored: the second is a duplicate and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from polku.cx.surveys.definitions import Survey
from polku.cx.surveys.form import Answer
from polku.errors import NotFound, PolkuError
from polku.model import identity_fields
from polku.store import cx_surveys as sql

if TYPE_CHECKING:
    from polku.workspace import PreparedBatch, Workspace

EVENT_TYPE = "survey_answered"
# The event's channel by the invitation's: a link or the portal is answered on the web.
EVENT_CHANNELS = {"email": "email", "journey": "email", "link": "web", "portal": "web"}


class AlreadyAnswered(PolkuError):
    """The invitation has taken all the answers it allows."""

    status, code = 409, "already_answered"


class Expired(PolkuError):
    """The invitation's time to answer is over."""

    status, code = 410, "expired"


class InviteNotFound(NotFound):
    """The link is well signed but names no invitation (it was removed)."""


def check_invite(row: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The invitation if it can be answered now; raises InviteNotFound, AlreadyAnswered or Expired."""
    if row is None:
        raise InviteNotFound("this survey invitation does not exist (any more)")
    if row["answers"] >= row["max_answers"]:
        raise AlreadyAnswered("this survey has already been answered with this link")
    if row["expires_at"] <= now:
        raise Expired(f"this survey invitation expired on {row['expires_at']:%Y-%m-%d}")
    return row


@dataclass(frozen=True)
class Response:
    """A stored answer: its response id and event id."""

    response_id: str
    event_id: str
    invite_id: str
    answers: int  # the invitation's answers after this one


def answer_event(invite: dict[str, Any], survey: Survey, answer: Answer, person: dict[str, Any] | None,
                 language: str, now: datetime) -> dict[str, Any]:
    """The ``survey_answered`` event of an answer (the CX contract's shape), as an item for ``Workspace.prepare_batch``."""
    n = int(invite["answers"]) + 1
    response_id = f"{invite['invite_id']}.{n}"
    trigger = {"event_id": invite["trigger_event_id"], "type": invite["trigger_type"]} if invite["trigger_event_id"] else None
    properties = {
        "survey": survey.id, "response": response_id, "invite": invite["invite_id"],
        "scores": answer.scores, "answers": answer.answers, "comment": answer.comment, "language": language,
        "trigger": trigger, "phase": invite["phase"],
        "role": (person or {}).get("role"), "org_level": (person or {}).get("org_level"),
    }
    return {
        "event_id": f"survey:{response_id}", "ts": now, "type": EVENT_TYPE,
        "channel": EVENT_CHANNELS.get(invite["channel"], "web"), **identity_fields(invite["identity"]),
        "account_id": invite["account_id"], "value": answer.value, "properties": properties,
    }


def record(ws: Workspace, batch: PreparedBatch, invite_id: str, answers_before: int, now: datetime) -> Response:
    """The write: re-check the invitation, append the event, count the answer (inside one transaction)."""
    store = ws.store
    current = sql.invite(store, invite_id)
    check_invite(current, now)
    assert current is not None
    if current["answers"] != answers_before:
        raise AlreadyAnswered("this survey was answered with this link a moment ago")
    result = ws.store_batch(batch, "cx-survey")
    if result.rejected:
        raise PolkuError("the answer could not be stored: " + str(result.rejected[0]["errors"]))
    if not result.accepted:  # its id is taken: another submission of the same answer number won
        raise AlreadyAnswered("this survey was answered with this link a moment ago")
    sql.count_answer(store, invite_id, answers_before, now)
    event_id = str(result.accepted[0]["event_id"])
    return Response(event_id.removeprefix("survey:"), event_id, invite_id, answers_before + 1)
