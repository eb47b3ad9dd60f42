"""Operations the CLI and the API share: enrolment requests, journeys sent to the API, pausing and
resuming a journey, in-doubt decisions."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from polku import profiles
from polku.errors import ConfigError, InvalidInput, NotFound
from polku.model import utcnow
from polku.nurture.definitions import Journey
from polku.nurture.loader import JOURNEYS_DIR, check_new_journey, load_definitions, load_journeys, parse_journey
from polku.nurture.yamlsrc import Problem, parse
from polku.store import nurture as sql

if TYPE_CHECKING:
    from polku.workspace import Workspace

MAX_ENROL: Final[int] = 5000
RESOLUTIONS: Final[dict[str, str]] = {"sent": "sent", "resend": "pending", "drop": "failed"}
STATUSES: Final[tuple[str, ...]] = ("active", "paused")
NO_TOTALS: Final[dict[str, int]] = {"enrolled": 0, "active": 0, "in_holdout": 0, "completed": 0, "goal_reached": 0}
log = logging.getLogger("polku.nurture")


def request_enrolment(ws: Workspace, journey_id: str, keys: list[str], *, source: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """Queue contacts (by id, e-mail, CRM id or anonymous id) for a journey; the next tick decides. All or nothing."""
    if not keys:
        raise InvalidInput("name at least one contact")
    if len(keys) > MAX_ENROL:
        raise InvalidInput(f"at most {MAX_ENROL} contacts at a time, got {len(keys)}")
    defs = load_definitions(ws.home)
    journey = defs.journeys.get(journey_id)
    if journey is None:
        raise NotFound(f"no journey {journey_id!r} (journeys: {', '.join(sorted(defs.journeys)) or 'none'})")
    if journey.status != "active":
        raise InvalidInput(f"journey {journey_id!r} is paused; set status: active to enrol contacts")
    if not ws.is_fresh():
        ws.refresh()
    found, missing = [], []
    for key in keys:
        try:
            found.append((key, profiles.find_contact_id(ws.store, str(key))))
        except NotFound:
            missing.append(key)
    if missing:
        raise InvalidInput(f"no contact for {len(missing)} of the keys: {', '.join(map(str, missing[:20]))}; nothing was queued",
                           details=[{"field": "contacts", "reason": f"no contact {k!r}"} for k in missing])
    now = now or utcnow()
    rows = [
        {"request_id": "r_" + hashlib.sha1(f"{journey_id}|{cid}|{now.isoformat()}|{source}".encode()).hexdigest()[:16],
         "journey_id": journey_id, "contact_id": cid, "requested_at": now, "source": source}
        for _, cid in found
    ]
    with ws.store.transaction():
        sql.add_requests(ws.store, rows)
    return [{"key": key, "contact_id": r["contact_id"], "request_id": r["request_id"], "status": "queued"}
            for (key, _), r in zip(found, rows, strict=True)]


def put_journey(ws: Workspace, journey_id: str, text: str) -> Journey:
    """Validate a journey (YAML or JSON) against the workspace and write it to journeys/<id>.yaml."""
    if not text.strip():
        raise InvalidInput("the body is empty; send the journey as YAML or JSON")
    journey = check_new_journey(ws.home, text, journey_id)
    folder = ws.home / JOURNEYS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{journey_id}.yaml"
    _atomic_write(target, text if text.endswith("\n") else text + "\n")
    for other in (folder / f"{journey_id}.yml",):
        if other.exists():
            other.unlink()
    return journey


def _atomic_write(path: Path, text: str) -> None:
    """Write a file whole or not at all (a reader never sees half of it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def set_journey_status(home: Path, journey_id: str, status: str, *, by: str | None = None) -> dict[str, Any]:
    """Pause or resume a journey: set ``status:`` in its file, atomically, leaving the rest of the file as it was.

    The next tick obeys (a paused journey enrols no one and runs no steps). Only the
    journey's own file must be valid. Returns the id, the status before and after, whether
    the file changed, and the file.
    """
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    problems: list[Problem] = []
    parsed, where = load_journeys(home, problems)
    found = next(((j, src) for j, src in parsed if j.id == journey_id), None)
    if found is None:
        own = [p for p in problems if Path(p.file).stem == journey_id]
        if own:
            raise ConfigError(f"journey {journey_id!r} cannot be changed until its file is fixed:\n"
                              + "\n".join(p.text() for p in own), details=[p.detail() for p in own])
        raise NotFound(f"no journey {journey_id!r} in {JOURNEYS_DIR}/ (journeys: {', '.join(sorted(where)) or 'none'})")
    before, src = found
    result = {"id": journey_id, "status": status, "previous": before.status, "changed": before.status != status,
              "file": src.name}
    if not result["changed"]:
        return result
    path = home / src.name
    edited = _with_status(path.read_text(encoding="utf-8"), status)
    checked: list[Problem] = []
    after = parse_journey(parse(edited, src.name), path.stem, checked)
    if after is None or after.model_dump() != before.model_copy(update={"status": status}).model_dump():
        raise ConfigError(f"could not set the status of journey {journey_id!r} safely; set `status: {status}` "
                          f"in {src.name} by hand", details=[p.detail() for p in checked])
    _atomic_write(path, edited)
    log.info("journey %s %s%s", journey_id, "paused" if status == "paused" else "resumed", f" by {by}" if by else "")
    return result


def _with_status(text: str, status: str) -> str:
    """The journey text with its top-level ``status`` set: the value replaced in place, or a line added."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)  # the pure-Python loader: marks count characters
    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise InvalidInput("a journey file holds a mapping (id, trigger, steps, ...)")
    for key, value in node.value:
        if key.value == "status" and isinstance(value, yaml.ScalarNode):
            quote = value.style if value.style in ('"', "'") else ""
            return text[:value.start_mark.index] + f"{quote}{status}{quote}" + text[value.end_mark.index:]
    first = node.value[0][0].start_mark
    if node.flow_style:  # JSON, or YAML written as {...}
        line = f'"status": "{status}", '
    else:
        line = f"status: {status}\n" + " " * first.column
    return text[:first.index] + line + text[first.index:]


def list_journeys(ws: Workspace) -> list[dict[str, Any]]:
    """Journeys defined in files and those that ran, with their enrolment counts."""
    defs = load_definitions(ws.home)
    stored = {r["journey_id"]: r for r in sql.journey_rows(ws.store)}
    totals = sql.journey_totals(ws.store)
    out = []
    for jid in sorted(set(defs.journeys) | set(stored)):
        j = defs.journeys.get(jid)
        status = j.status if j else "removed"
        out.append({
            "id": jid, "name": j.title if j else stored[jid]["name"], "status": status,
            "priority": j.priority if j else stored[jid]["priority"], "holdout": j.holdout if j else None,
            "source": defs.sources.get(jid) or stored.get(jid, {}).get("source"),
            **totals.get(jid, NO_TOTALS),
        })
    return sorted(out, key=lambda r: (-r["priority"], r["id"]))


def journey_detail(ws: Workspace, journey_id: str) -> dict[str, Any]:
    """One journey's definition (from its file, or as it last ran) and counts."""
    defs = load_definitions(ws.home)
    j = defs.journeys.get(journey_id)
    stored = sql.journey_row(ws.store, journey_id)
    if j is None and stored is None:
        raise NotFound(f"no journey {journey_id!r}")
    definition = j.model_dump(mode="json", by_alias=True, exclude_none=True) if j else json.loads(stored["definition"])  # type: ignore[index]
    return {"id": journey_id, "status": j.status if j else "removed", "source": defs.sources.get(journey_id),
            "definition": definition, **sql.journey_totals(ws.store).get(journey_id, NO_TOTALS)}


def resolve_message(ws: Workspace, message_id: str, action: str, note: str | None = None) -> dict[str, Any]:
    """Settle a message held in doubt: it was `sent` (found at the receiver), `resend` it, or `drop` it."""
    if action not in RESOLUTIONS:
        raise InvalidInput(f"action must be one of {', '.join(RESOLUTIONS)}, got {action!r}")
    row = sql.outbox_row(ws.store, message_id)
    if row is None:
        raise NotFound(f"no message {message_id!r} in the outbox")
    if row["status"] != "in_doubt":
        raise InvalidInput(f"message {message_id!r} is {row['status']}, not in doubt; only messages in doubt can be resolved")
    with ws.store.transaction():
        sql.resolve_in_doubt(ws.store, message_id, RESOLUTIONS[action], note or f"resolved by hand: {action}", utcnow())
    return {"message_id": message_id, "status": RESOLUTIONS[action]}
