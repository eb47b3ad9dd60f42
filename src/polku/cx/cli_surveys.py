"""`polku cx surveys`, `polku cx survey check`, `polku cx invite`, `polku cx tick`: thin, they call ``Surveys``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from polku.errors import InvalidInput
from polku.nurture.cli import _errors, _json, _when  # the same CLI conventions as polku nurture

if TYPE_CHECKING:
    from polku.workspace import Workspace

surveys_app = typer.Typer(no_args_is_help=True)
survey_app = typer.Typer(no_args_is_help=True, help="One survey file at a time: check.")
surveys_app.add_typer(survey_app, name="survey")
out = Console()
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def _workspace() -> Iterator[Workspace]:
    """The workspace chosen by --home (it must exist)."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        yield ws


@surveys_app.command("surveys")
def list_surveys(as_json: AsJson = False) -> None:
    """Surveys in surveys/*.yaml with their languages, triggers, invitations and answers."""
    from polku.cli import state
    from polku.cx.surveys import Surveys, load_surveys
    from polku.workspace import DB_FILE

    with _errors():
        if not (state.home / DB_FILE).exists():
            rows = [{**s.summary(), "invites": 0, "answered": 0, "answers": 0, "open": 0, "expired": 0}
                    for s in load_surveys(state.home).values()]
        else:
            with _workspace() as ws:
                rows = Surveys(ws).summaries()
    if as_json:
        return _json(rows)
    table = Table(title=f"{len(rows)} surveys")
    for col in ("survey", "title", "languages", "measures", "triggers", "invites", "answered", "answers", "open"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["title"] or "", ", ".join(r["languages"]), ", ".join(r["measures"]) or "-",
                      ", ".join(t["event"] for t in r["triggers"]) or "-", f"{r['invites']:,}", f"{r['answered']:,}",
                      f"{r['answers']:,}", f"{r['open']:,}")
    out.print(table)


@survey_app.command("check")
def check() -> None:
    """Check surveys/*.yaml; print every problem with its file and line."""
    from polku.cli import state
    from polku.cx.surveys import load_surveys

    with _errors():
        found = load_surveys(state.home)
    triggers = sum(len(s.triggers) for s in found.values())
    languages = sorted({lang for s in found.values() for lang in s.languages})
    out.print(f"ok: {len(found)} surveys, {sum(len(s.questions) for s in found.values())} questions, "
              f"{triggers} triggers, languages {', '.join(languages) or '-'}", soft_wrap=True)


@surveys_app.command("invite")
def invite(
    survey: Annotated[str, typer.Argument(help="The survey id (its file name in surveys/).")],
    contacts: Annotated[list[str], typer.Argument(help="Contacts by id, e-mail, CRM id or anonymous id.")],
    channel: Annotated[str, typer.Option(help="How the link reaches them: link, email or portal.")] = "link",
    language: Annotated[str | None, typer.Option(help="The page's language (default: the contact's, else the survey's).")] = None,
    trigger_event: Annotated[str | None, typer.Option("--trigger-event", help="The event id of the touchpoint asked about.")] = None,
    base_url: Annotated[str | None, typer.Option(help="Public address of `polku serve` (default: nurture.yaml's tracking_url).")] = None,
    as_json: AsJson = False,
) -> None:
    """Invite contacts to a survey and print their signed links (all or nothing)."""
    from polku.cx.surveys import Occasion, Surveys
    from polku.cx.surveys.invites import public_base

    with _workspace() as ws, _errors():
        if channel not in ("link", "email", "portal"):
            raise InvalidInput(f"--channel must be link, email or portal, got {channel!r}")
        ws.refresh()
        made = Surveys(ws).invite(survey, contacts, Occasion(channel=channel, language=language, trigger_event_id=trigger_event),
                                  (base_url or public_base(ws.home)).rstrip("/"))
    if as_json:
        return _json(made)
    table = Table(title=f"{len(made)} invitations to {survey}")
    for col in ("contact", "language", "expires", "link"):
        table.add_column(col, overflow="fold")
    for r in made:
        table.add_row(r["identity"], r["language"], str(r["expires_at"])[:10], r["url"])
    out.print(table)


@surveys_app.command("tick")
def tick(
    now: Annotated[str | None, typer.Option(help="Act as if it were this time (ISO 8601).")] = None,
    as_json: AsJson = False,
) -> None:
    """Run the surveys' triggers once: invite contacts after the touchpoints the surveys name."""
    from polku.cx.surveys import Surveys

    from polku.cx.alerts import check_alerts

    with _workspace() as ws, _errors():
        result = Surveys(ws).tick(_when(now))
        alerts = check_alerts(ws, now=_when(now))
    if as_json:
        return _json(result.as_dict() | {"alerts": alerts})
    total = sum(result.invites.values())
    out.print(f"survey triggers at {result.now.isoformat()[:19]}: {total:,} invitations "
              f"({', '.join(f'{k} {v:,}' for k, v in sorted(result.invites.items())) or 'none'}), "
              f"{result.waiting:,} events wait for their delay ({result.seconds:.1f} s)", soft_wrap=True)
    for reason, n in sorted(result.skipped.items()):
        out.print(f"  skipped {n:,}: {reason}", soft_wrap=True)
    for journey, n in sorted(result.requested.items()):
        out.print(f"  asked journey {journey} to send {n:,}", soft_wrap=True)
    for w in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    out.print(f"CX alerts: {len(alerts['created']):,} new, {alerts['open']:,} open"
              + (f", {len(alerts['enrolled']):,} enrolments asked" if alerts["enrolled"] else ""), soft_wrap=True)
