"""`polku nurture ...`: check, run and report nurture journeys. Thin: parses, calls the library, prints."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from polku.errors import InvalidInput, PolkuError

if TYPE_CHECKING:
    from polku.workspace import Workspace

nurture_app = typer.Typer(no_args_is_help=True, help="Nurture journeys: check, run, report, enrol, and review the outbox.")
out = Console()
err = Console(stderr=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def _workspace(*, create: bool = False) -> Iterator[Workspace]:
    """The workspace chosen by --home (opened the way every polku command opens it)."""
    from polku.cli import workspace

    with workspace(create=create) as ws:
        yield ws


@contextmanager
def _errors() -> Iterator[None]:
    """Polku's errors (a ConfigError lists file:line problems) become a message and exit code 1."""
    try:
        yield
    except PolkuError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--now must be an ISO 8601 time such as 2025-03-01T09:00:00+02:00, got {value!r}") from exc
    if ts.tzinfo is None:
        raise InvalidInput("--now needs a time zone (e.g. +00:00 or Z)")
    return ts


@nurture_app.command("validate")
def validate() -> None:
    """Check journeys/, content/ and nurture.yaml; print every problem with its file and line."""
    from polku.cli import state
    from polku.nurture.loader import load_definitions

    with _errors():
        defs = load_definitions(state.home)
    active = sum(1 for j in defs.journeys.values() if j.status == "active")
    out.print(f"ok: {len(defs.journeys)} journeys ({active} active), {len(defs.library.items)} templates, "
              f"consent {defs.policy.consent}", soft_wrap=True)


@nurture_app.command("list")
def list_journeys(as_json: AsJson = False) -> None:
    """Journeys with their status, priority, holdout and enrolment counts."""
    from polku.nurture.ops import list_journeys as rows_of

    with _workspace() as ws, _errors():
        rows = rows_of(ws)
    if as_json:
        return _json(rows)
    table = Table(title=f"{len(rows)} journeys")
    for col in ("journey", "name", "status", "priority", "holdout", "enrolled", "active", "file"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["name"] or "", r["status"], str(r["priority"]),
                      "" if r["holdout"] is None else f"{r['holdout']:.0%}", f"{r['enrolled']:,}", f"{r['active']:,}", r["source"] or "")
    out.print(table)


def _print_round(result: dict[str, Any]) -> None:
    if "error" in result:
        err.print(f"[red]error:[/red] {result['error']}", soft_wrap=True)
        return
    t = result["tick"]
    out.print(f"tick {t['now'][:19]}: {t['enrolled']:,} enrolled, {t['steps']:,} steps, {t['queued']:,} messages queued, "
              f"{t['active']:,} active ({t['seconds']:.1f} s)", soft_wrap=True)
    for w in t["warnings"]:
        out.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    d = result.get("delivery")
    if d:
        out.print(f"delivery: {d['sent']:,} sent, {d['retry']:,} to retry, {d['failed']:,} failed, "
                  f"{d['suppressed']:,} suppressed, {d['in_doubt']:,} in doubt ({d['seconds']:.1f} s)", soft_wrap=True)
        for channel, n in d["waiting"].items():
            hint = " (set POLKU_SMTP_HOST to send e-mail)" if channel == "email" else ""
            out.print(f"[yellow]{n:,} {channel} messages wait: no {channel} channel is configured{hint}[/yellow]", soft_wrap=True)
        recovered = d["recovered"]
        if recovered.get("sending") or recovered.get("committing"):
            out.print(f"[yellow]recovered after a crash: {recovered['sending']} messages sent again, "
                      f"{recovered['committing']} in doubt (see `polku nurture outbox --status in_doubt`)[/yellow]", soft_wrap=True)


@nurture_app.command("tick")
def tick(
    now: Annotated[str | None, typer.Option(help="Act as if it were this time (ISO 8601), e.g. to catch up.")] = None,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="Deliver the outbox after the tick.")] = True,
    as_json: AsJson = False,
) -> None:
    """Advance every journey once (enrol, goals, due steps), then deliver what is due. For cron."""
    from polku.nurture.scheduler import Scheduler

    with _workspace() as ws, _errors():
        scheduler = Scheduler(ws)
        try:
            result = scheduler.once(_when(now), deliver=deliver)
        finally:
            scheduler.deliverer.close()
    if as_json:
        return _json(result)
    _print_round(result)


@nurture_app.command("run")
def run(
    interval: Annotated[float, typer.Option(help="Seconds between rounds.")] = 60.0,
    max_ticks: Annotated[int | None, typer.Option(help="Stop after this many rounds (default: run until stopped).")] = None,
    deliver: Annotated[bool, typer.Option("--deliver/--no-deliver", help="Deliver the outbox after each tick.")] = True,
) -> None:
    """Run the scheduler: tick and deliver every interval until Ctrl-C or SIGTERM (when no server holds the workspace)."""
    from polku.nurture.scheduler import Scheduler

    with _workspace() as ws, _errors():
        scheduler = Scheduler(ws, interval=interval, deliver=deliver)

        def on_signal(signum: int, _frame: Any) -> None:
            out.print(f"stopping after the current batch (signal {signum})")
            scheduler.request_stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            out.print(f"nurture scheduler on {ws.home}: a round every {interval:g} s (Ctrl-C stops)", soft_wrap=True)
            scheduler.loop(max_ticks=max_ticks, on_round=_print_round)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            scheduler.deliverer.close()


@nurture_app.command("report")
def report(journey: str, as_json: AsJson = False) -> None:
    """A journey's enrolments, per-step sends, opens and clicks, and its lift over the holdout with a 95% CI."""
    from polku.nurture.report import journey_report

    with _workspace() as ws, _errors():
        data = journey_report(ws.store, journey)
    if as_json:
        return _json(data)
    j = data["journey"]
    out.rule(f"[bold]{j['name']}[/bold] ({j['id']}, {j['status']}, priority {j['priority']}, holdout {j['holdout']:.0%})")
    t, c = data["arms"]["treatment"], data["arms"]["control"]
    out.print(f"enrolled {data['enrolled']:,} ({t['enrolled']:,} in the journey, {c['enrolled']:,} in the holdout) · "
              f"active {data['active']:,} · completed {data['completed']:,} · exited {data['exited']:,} · "
              f"goal reached {data['goal_reached']:,}")
    steps = Table(title="Steps")
    for col in ("step", "kind", "ran", "outcomes", "sent", "opened", "clicked"):
        steps.add_column(col)
    for s in data["steps"]:
        outcomes = ", ".join(f"{k} {v:,}" for k, v in s["outcomes"].items())
        mail = s.get("sent")
        steps.add_row(s["step_id"], s["kind"], f"{s['ran']:,}", outcomes, "" if mail is None else f"{mail:,}",
                      "" if mail is None else f"{s['opened']:,}", "" if mail is None else f"{s['clicked']:,}")
    out.print(steps)
    if data["goal"]:
        g = data["goal"]
        rate = lambda r: "-" if r is None else f"{r:.1%}"  # noqa: E731
        out.print(f"goal: {g['what']} within {g['within']} · journey {rate(g['treatment_rate'])} · holdout {rate(g['control_rate'])}")
    if data["verdict"]:
        out.print(f"[bold]lift:[/bold] {data['verdict']}", soft_wrap=True)
    for w in data["warnings"]:
        out.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)


def _set_status(journey: str, status: str) -> None:
    from polku.cli import state
    from polku.nurture.ops import set_journey_status

    with _errors():
        result = set_journey_status(state.home, journey, status)
    word = "paused" if status == "paused" else "resumed"
    if result["changed"]:
        out.print(f"{journey} {word} ({result['file']}); the next tick obeys", soft_wrap=True)
    else:
        out.print(f"{journey} is already {status}; nothing changed", soft_wrap=True)


@nurture_app.command("pause")
def pause(journey: str) -> None:
    """Pause a journey: no one enters and no step runs until it is resumed (also while a server runs)."""
    _set_status(journey, "paused")


@nurture_app.command("resume")
def resume(journey: str) -> None:
    """Resume a paused journey: the next tick enrols and moves contacts again, catching up on the pause."""
    _set_status(journey, "active")


@nurture_app.command("enrol")
def enrol(
    journey: str,
    contacts: Annotated[list[str], typer.Argument(help="Contacts by id, e-mail, CRM id or anonymous id.")],
    source: Annotated[str, typer.Option(help="Who asked (kept with the request).")] = "cli",
) -> None:
    """Ask for contacts to enter a journey; the next tick enrols them by the journey's rules."""
    from polku.nurture.ops import request_enrolment

    with _workspace() as ws, _errors():
        queued = request_enrolment(ws, journey, contacts, source=source)
    out.print(f"queued {len(queued):,} enrolment request(s) for {journey}; `polku nurture tick` decides them", soft_wrap=True)


@nurture_app.command("contact")
def contact(key: str, as_json: AsJson = False) -> None:
    """A contact's journeys: enrolments, step history, messages, and the journeys' segments it is in."""
    from polku import profiles
    from polku.nurture.views import enrolments_for_contact, lists_for_contact, requests_for_contact

    with _workspace() as ws, _errors():
        ws.refresh()
        cid = profiles.find_contact_id(ws.store, key)
        data = {"contact_id": cid, "enrolments": enrolments_for_contact(ws.store, cid),
                "requests": requests_for_contact(ws.store, cid), "lists": lists_for_contact(ws.store, cid)}
    if as_json:
        return _json(data)
    out.rule(f"[bold]{key}[/bold] ({cid}): {len(data['enrolments'])} enrolment(s)")
    if data["lists"]:
        out.print("in the segments of: " + ", ".join(m["journey_id"] for m in data["lists"]))
    for e in data["enrolments"]:
        out.print(f"[bold]{e['journey_name'] or e['journey_id']}[/bold] #{e['entry']} · {e['arm']} · {e['status']}"
                  + (f" at {e['step_id']}" if e["step_id"] else "") + (f" · {e['end_reason']}" if e["end_reason"] else ""))
        table = Table(show_header=True)
        for col in ("when", "step", "kind", "outcome", "detail"):
            table.add_column(col)
        for h in e["history"]:
            table.add_row(str(h["ts"])[:19], h["step_id"], h["kind"], h["outcome"], h["detail"] or "")
        out.print(table)


@nurture_app.command("outbox")
def outbox(
    status: Annotated[str | None, typer.Option(help="Only this status (pending, sent, failed, suppressed, in_doubt, ...).")] = None,
    journey: Annotated[str | None, typer.Option(help="Only this journey.")] = None,
    limit: Annotated[int, typer.Option(help="How many messages to list.")] = 50,
    as_json: AsJson = False,
) -> None:
    """Outbox messages and counts by status; `--status in_doubt` lists messages a crash left to review."""
    from polku.store import nurture as sql

    with _workspace() as ws, _errors():
        counts = sql.outbox_counts(ws.store)
        rows = sql.outbox(ws.store, status=status, journey_id=journey, limit=limit)
    if as_json:
        return _json({"counts": counts, "messages": rows})
    out.print(" · ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "the outbox is empty")
    table = Table()
    for col in ("message", "to", "status", "tries", "created", "sent", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["message_id"], r["recipient"] or "", r["status"], str(r["attempts"]), str(r["created_at"])[:19],
                      str(r["sent_at"] or "")[:19], (r["error"] or "")[:60])
    out.print(table)


@nurture_app.command("resolve")
def resolve(
    message_id: str,
    action: Annotated[str, typer.Option("--as", help="sent (it arrived), resend (send it again) or drop.")],
    note: Annotated[str | None, typer.Option(help="Why (kept with the message).")] = None,
) -> None:
    """Settle a message held in doubt after a crash (check the relay's log or the recipient first)."""
    from polku.nurture.ops import resolve_message

    with _workspace() as ws, _errors():
        result = resolve_message(ws, message_id, action, note)
    out.print(f"{message_id}: now {result['status']}")


@nurture_app.command("content")
def content(
    stage: Annotated[str | None, typer.Option(help="Journey stage tag.")] = None,
    role: Annotated[str | None, typer.Option(help="Role tag.")] = None,
    topic: Annotated[str | None, typer.Option(help="Topic tag.")] = None,
    language: Annotated[str | None, typer.Option(help="Language tag.")] = None,
) -> None:
    """The content library (content/*.yaml), filtered by tags."""
    from polku.cli import state
    from polku.nurture.loader import load_definitions

    with _errors():
        defs = load_definitions(state.home)
    table = Table(title="Content library")
    for col in ("template", "language", "stage", "roles", "topic", "subject"):
        table.add_column(col)
    for t in defs.library.find(stage=stage, role=role, topic=topic, language=language):
        table.add_row(t.id, t.language or "", t.stage.value if t.stage else "", ", ".join(r.value for r in t.roles or []),
                      t.topic or "", t.subject)
    out.print(table)
