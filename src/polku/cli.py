"""The `polku` command line: thin, it parses, calls the Workspace and prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from polku.cli_analytics import analytics_app
from polku.cli_score import score_app
from polku.config import Settings
from polku.errors import NotFound, PolkuError
from polku.model import STANDARD_EVENTS
from polku.cx.cli import cx_app
from polku.nurture.cli import nurture_app
from polku.web import usercli
from polku.workspace import DB_FILE, ImportResult, Workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Polku: B2B customer experience and lead nurturing.")
show_app = typer.Typer(no_args_is_help=True, help="Show the 360° view of an account or a contact.")
keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
app.add_typer(show_app, name="show")
lead_app = typer.Typer(no_args_is_help=True, help="Lead handover: sales accepts or rejects a lead, with a reason.")
app.add_typer(keys_app, name="keys")
app.add_typer(lead_app, name="lead")
app.add_typer(analytics_app)  # funnel, velocity, paths, variants, pain-points, attribution
app.add_typer(nurture_app, name="nurture")
app.add_typer(score_app, name="score")
app.add_typer(usercli.app, name="users")
app.add_typer(cx_app, name="cx")

out = Console()
err = Console(stderr=True)


SETTINGS = Settings()


class _State:
    home: Path = SETTINGS.home


state = _State()


@app.callback()
def main(
    home: Annotated[
        Path | None, typer.Option("--home", envvar="POLKU_HOME", help="Workspace folder (default ./polku-data).")
    ] = None,
) -> None:
    """Polku works on one workspace folder; --home or POLKU_HOME chooses it."""
    if home is not None:
        state.home = home


@contextmanager
def workspace(*, create: bool = True) -> Iterator[Workspace]:
    """Open the workspace (creating it only for commands that add data); Polku's errors
    become a clear message and exit code 1."""
    try:
        if not create and not (state.home / DB_FILE).exists():
            raise NotFound(f"no workspace at {state.home} (check --home or POLKU_HOME; imports create one)")
        with Workspace(state.home) as ws:
            yield ws
    except PolkuError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def _summary(result: ImportResult, what: str) -> None:
    table = Table(title=f"Imported {what} from {Path(result.path).name}", show_header=False)
    table.add_row("rows read", f"{result.rows:,}")
    table.add_row("stored", f"{result.inserted:,}")
    table.add_row("already stored (skipped)", f"{result.duplicates:,}")
    table.add_row("rejected", f"{result.rejected:,}")
    if result.seconds:
        table.add_row("time", f"{result.seconds:.1f} s ({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)")
    out.print(table)
    if result.rejects_file:
        out.print(f"Rejected rows with reasons: {result.rejects_file}")


SkipBad = Annotated[
    bool, typer.Option("--skip-bad", help="Import the good rows; list the bad ones (line, reason) in a rejects file.")
]
Rejects = Annotated[Path | None, typer.Option("--rejects", help="Where --skip-bad writes the line and reason of each bad row.")]


@app.command("import")
def import_events(
    file: Annotated[Path, typer.Argument(help="CSV, JSON Lines or Parquet file of events.")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl or parquet (default: from the suffix).")] = None,
    skip_bad: SkipBad = False,
    rejects: Rejects = None,
    refresh: Annotated[bool, typer.Option(help="Resolve identities and stages after importing.")] = True,
) -> None:
    """Import touchpoints from a file. Bad rows stop the import before anything is written."""
    with workspace() as ws:
        total = ws.count_rows(file, fmt)
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=err, transient=False,
        ) as bar:
            task = bar.add_task(f"importing {file.name}", total=total)
            result = ws.import_events(
                file, fmt=fmt, skip_bad=skip_bad, rejects_path=rejects, progress=lambda n: bar.advance(task, n)
            )
            if refresh:
                resolving = bar.add_task("resolving identities and stages", total=None)
                stats = ws.refresh()
                bar.update(resolving, total=1, completed=1)
        _summary(result, "events")
        if refresh and stats:
            out.print(
                f"{stats.contacts:,} contacts, {stats.accounts:,} accounts, {stats.merges:,} merges "
                f"(resolved in {stats.seconds:.1f} s)"
            )


@app.command("import-accounts")
def import_accounts(file: Path, skip_bad: SkipBad = False, rejects: Rejects = None) -> None:
    """Import accounts from a CRM export (CSV: account_id, name, domain, industry, employees, country, owner, ...)."""
    with workspace() as ws:
        _summary(ws.import_accounts(file, skip_bad=skip_bad, rejects_path=rejects), "accounts")


@app.command("import-contacts")
def import_contacts(file: Path, skip_bad: SkipBad = False, rejects: Rejects = None) -> None:
    """Import contacts from a CRM export (CSV: crm_id and/or email, name, title, role, org_level, account_id, ...)."""
    with workspace() as ws:
        _summary(ws.import_contacts(file, skip_bad=skip_bad, rejects_path=rejects), "contacts")


@app.command()
def refresh() -> None:
    """Rebuild identities, contacts, accounts, merges and stages from the stored log."""
    with workspace(create=False) as ws:
        stats = ws.refresh(force=True)
        assert stats is not None
        out.print(
            f"{stats.identities:,} identifiers → {stats.contacts:,} contacts in {stats.accounts:,} accounts, "
            f"{stats.merges:,} merges ({stats.seconds:.1f} s)"
        )


def _timeline_title(view: dict[str, Any], channel: str | None) -> str:
    shown = len(view["timeline"])
    if channel:
        return f"Latest {shown} {channel} touchpoints ({view['event_count']:,} in all channels)"
    return f"Latest {shown} of {view['event_count']:,} touchpoints"


def _timeline_table(view: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("when", "type", "channel", "topic", "value", "contact"):
        table.add_column(col)
    for e in view["timeline"]:
        table.add_row(
            str(e["ts"])[:19], e["type"], e["channel"], e["topic"] or "",
            "" if e["value"] is None else f"{e['value']:g}", e["contact_id"],
        )
    return table


def _history_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Stage history")
    for col in ("when", "stage", "why"):
        table.add_column(col)
    for h in rows:
        table.add_row(str(h["ts"])[:19], h["stage"], h["reason"])
    return table


def _mix_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Channel mix")
    table.add_column("channel")
    table.add_column("events", justify="right")
    table.add_column("last")
    for m in rows:
        table.add_row(m["channel"], f"{m['events']:,}", str(m["last_at"])[:19])
    return table


Limit = Annotated[int, typer.Option(help="How many timeline events to show.")]
Channel = Annotated[str | None, typer.Option(help="Show only this channel in the timeline.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@show_app.command("account")
def show_account(key: str, limit: Limit = 20, channel: Channel = None, as_json: AsJson = False) -> None:
    """An account by id or domain: profile, buying group, timeline, stages, channel mix."""
    with workspace(create=False) as ws:
        view = ws.account(key, limit=limit, channel=channel)
    if as_json:
        return _json(view)
    a = view["account"]
    out.rule(f"[bold]{a['name'] or a['account_id']}[/bold]  ({a['account_id']})")
    out.print(
        f"domain {a['domain'] or '-'} · industry {a['industry'] or '-'} · employees {a['employees'] or '-'} · "
        f"owner {a['owner'] or '-'}\nstage [bold]{a['stage'] or '-'}[/bold] · journey {a['journey_stage'] or '-'} · "
        f"{view['event_count']:,} events · last activity {str(view['last_activity'])[:19]}"
    )
    group = Table(title="Buying group")
    for col in ("org level", "name", "role", "title", "stage", "last seen", "contact"):
        group.add_column(col)
    for m in view["buying_group"]:
        group.add_row(m["org_level"] or "?", m["name"] or m["email"] or "(anonymous)", m["role"] or "", m["title"] or "",
                      m["stage"], str(m["last_seen"])[:10], m["contact_id"])
    out.print(group)
    out.print(_history_table(view["stage_history"]))
    out.print(_mix_table(view["channel_mix"]))
    out.print(_timeline_table(view, _timeline_title(view, channel)))


@show_app.command("contact")
def show_contact(key: str, limit: Limit = 20, channel: Channel = None, as_json: AsJson = False) -> None:
    """A contact by id, e-mail, CRM id or anonymous id: profile, identities, timeline, stages, merges."""
    with workspace(create=False) as ws:
        view = ws.contact(key, limit=limit, channel=channel)
    if as_json:
        return _json(view)
    c = view["contact"]
    out.rule(f"[bold]{c['name'] or c['email'] or 'anonymous visitor'}[/bold]  ({c['contact_id']})")
    acc = view["account"]
    out.print(
        f"{c['title'] or ''} {('· ' + c['role']) if c['role'] else ''} {('· ' + c['org_level']) if c['org_level'] else ''}\n"
        f"account {(acc['name'] or acc['domain'] or '') + ' (' + acc['account_id'] + ')' if acc else '-'}\n"
        f"stage [bold]{c['stage']}[/bold] since {str(c['stage_since'])[:10]} · journey {c['journey_stage']} · "
        f"{view['event_count']:,} events · last activity {str(view['last_activity'])[:19]}\n"
        f"identities: {', '.join(c['identities'])}"
    )
    out.print(_history_table(view["stage_history"]))
    if view["merges"]:
        merges = Table(title="Merges (undo with `polku unmerge ID --reason ...`)")
        for col in ("merge", "when", "kept", "merged in", "cause"):
            merges.add_column(col)
        for m in view["merges"]:
            merges.add_row(m["merge_id"], str(m["ts"])[:19], m["survivor_identity"], m["merged_identity"],
                           f"{m['cause']} {m['link_a']} ↔ {m['link_b']}")
        out.print(merges)
    out.print(_mix_table(view["channel_mix"]))
    out.print(_timeline_table(view, _timeline_title(view, channel)))


@app.command()
def stats(as_json: AsJson = False) -> None:
    """Counts of accounts, contacts and events; contacts by lifecycle stage; top accounts."""
    with workspace(create=False) as ws:
        data = ws.stats()
    if as_json:
        return _json(data)
    out.print(
        f"[bold]{data['accounts']:,}[/bold] accounts · [bold]{data['contacts']:,}[/bold] contacts "
        f"({data['known_contacts']:,} identified) · [bold]{data['events']:,}[/bold] events · "
        f"{data['merges']:,} merges"
    )
    stages = Table(title="By lifecycle stage")
    stages.add_column("stage")
    stages.add_column("contacts", justify="right")
    stages.add_column("accounts", justify="right")
    for s, n in data["contacts_by_stage"].items():
        stages.add_row(s, f"{n:,}", f"{data['accounts_by_stage'][s]:,}")
    out.print(stages)
    top = Table(title="Most active accounts (last 30 days of data)")
    for col in ("account", "name", "stage", "events", "last activity"):
        top.add_column(col)
    for a in data["top_accounts"]:
        top.add_row(a["account_id"], a["name"] or "", a["stage"] or "", f"{a['recent_events']:,}", str(a["last_activity"])[:19])
    out.print(top)


@app.command()
def merges(contact: Annotated[str | None, typer.Option(help="Only this contact's merges.")] = None, as_json: AsJson = False) -> None:
    """List recorded merges of contacts with their causes, and the manual merges and splits."""
    with workspace(create=False) as ws:
        rows = ws.merges(contact)
        overrides = ws.identity_overrides()
    if as_json:
        return _json({"merges": rows, "overrides": overrides})
    table = Table(title=f"{len(rows)} merges")
    for col in ("merge", "when", "contact", "kept", "merged in", "cause"):
        table.add_column(col)
    for m in rows:
        table.add_row(m["merge_id"], str(m["ts"])[:19], m["contact_id"], m["survivor_identity"], m["merged_identity"],
                      f"{m['cause']} {m['link_a']} ↔ {m['link_b']}")
    out.print(table)
    if overrides:
        manual = Table(title="Manual merges and splits (unmerges)")
        for col in ("when", "kind", "identities", "reason"):
            manual.add_column(col)
        for o in overrides:
            manual.add_row(str(o["created_at"])[:19], o["kind"], f"{o['a']} ↔ {o['b']}", o["reason"])
        out.print(manual)


Reason = Annotated[str, typer.Option("--reason", help="Why; kept with the change.")]


@app.command()
def merge(a: str, b: str, reason: Reason) -> None:
    """Merge two contacts that are one person (each named by id, e-mail, CRM id or anonymous id)."""
    with workspace(create=False) as ws:
        out.print(f"merged into {ws.merge(a, b, reason=reason)}")


@app.command()
def unmerge(merge_id: str, reason: Reason) -> None:
    """Undo a merge: both contacts come back with their own events."""
    with workspace(create=False) as ws:
        a, b = ws.unmerge(merge_id, reason=reason)
    out.print(f"restored contacts {a} and {b}")


By = Annotated[str | None, typer.Option("--by", help="Who decided (kept with the decision).")]


@lead_app.command("accept")
def lead_accept(contact: str, reason: Reason, by: By = None) -> None:
    """Sales accepts a lead: it becomes an opportunity."""
    with workspace(create=False) as ws:
        ws.decide_lead(contact, "accept", reason=reason, by=by)
        out.print(f"accepted; {contact} is now {ws.contact(contact, limit=1)['contact']['stage']}")


@lead_app.command("reject")
def lead_reject(contact: str, reason: Reason, by: By = None) -> None:
    """Sales rejects a lead: it returns to prospect and the reason trains the lead model."""
    with workspace(create=False) as ws:
        ws.decide_lead(contact, "reject", reason=reason, by=by)
        out.print(f"rejected; {contact} is now {ws.contact(contact, limit=1)['contact']['stage']}")


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option(help="read, write or admin.")] = "read",
    name: Annotated[str | None, typer.Option(help="A note on who uses the key.")] = None,
) -> None:
    """Create an API key. The key is printed once; only its hash is stored."""
    with workspace() as ws:
        token = ws.create_key(scope, name)
    out.print(token, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their secrets)."""
    with workspace(create=False) as ws:
        rows = ws.list_keys()
    table = Table()
    for col in ("key", "scope", "name", "created", "revoked"):
        table.add_column(col)
    for k in rows:
        table.add_row(k["key_id"], k["scope"], k["name"] or "", str(k["created_at"])[:19], str(k["revoked_at"] or "")[:19])
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    with workspace(create=False) as ws:
        ws.revoke_key(key_id)
    out.print(f"revoked {key_id}")


@app.command()
def events() -> None:
    """List the standard event vocabulary (custom snake_case types are allowed too)."""
    table = Table(title="Standard event types")
    for col in ("type", "usual channel", "meaning"):
        table.add_column(col)
    for name, (channel, meaning) in STANDARD_EVENTS.items():
        table.add_row(name, channel, meaning)
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="POLKU_HOST", help="Address to listen on.")] = SETTINGS.host,
    port: Annotated[int, typer.Option(envvar="POLKU_PORT", help="Port to listen on.")] = SETTINGS.port,
    refresh_seconds: Annotated[
        float, typer.Option(envvar="POLKU_REFRESH_SECONDS", help="Refresh derived views after this many quiet seconds.")
    ] = SETTINGS.refresh_seconds,
    nurture: Annotated[
        bool, typer.Option("--nurture", help="Also run the nurture scheduler (tick and deliver) in the server.")
    ] = False,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs). This process owns the workspace while it runs."""
    import uvicorn

    from polku.api import create_app

    with workspace() as ws:
        out.print(f"Polku serving {ws.home} on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)", soft_wrap=True)
        uvicorn.run(create_app(ws, refresh_seconds=refresh_seconds, nurture=nurture), host=host, port=port, log_level="warning")


@app.command()
def sim(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write events.parquet, accounts.csv, contacts.csv, truth.json.")],
    accounts: Annotated[int, typer.Option(help="How many accounts.")] = 200,
    events_per_account: Annotated[int, typer.Option(help="Average events per account.")] = 150,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same world.")] = 0,
) -> None:
    """Generate a reproducible synthetic B2B world with its ground truth (any size, bounded memory)."""
    from polku.sim import stream_world

    with err.status(f"simulating {accounts:,} accounts (seed {seed})"):
        paths, n_events = stream_world(out_dir, accounts, seed, events_per_account=events_per_account)
    out.print(f"{n_events:,} events from {accounts:,} accounts → {out_dir}")
    for name, path in paths.items():
        out.print(f"  {name}: {path}")


@app.command()
def demo(
    accounts: Annotated[int, typer.Option(help="How many accounts to simulate.")] = 2000,
    events_per_account: Annotated[int, typer.Option(help="Average events per account.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Start `polku serve` at the end.")] = True,
    port: Annotated[int, typer.Option(envvar="POLKU_PORT", help="Port for the server.")] = SETTINGS.port,
) -> None:
    """Simulate a world, import it with progress bars, print the summary and serve the API."""
    data = state.home / "sim"
    if (state.home / "polku.duckdb").exists():
        out.print(f"[yellow]{state.home} already holds a workspace; importing again stores nothing twice.[/yellow]")
    sim(data, accounts=accounts, events_per_account=events_per_account, seed=seed)
    import_accounts(data / "accounts.csv")
    import_contacts(data / "contacts.csv")
    import_events(data / "events.parquet")
    stats()
    with workspace() as ws:
        token = ws.create_key("read", "demo")
        password = usercli.demo_admin(ws.store)
    out.print(
        f"\nThe dashboard: [bold]http://127.0.0.1:{port}/[/bold]  (user [bold]admin[/bold], one-time password "
        f"[bold]{password}[/bold]; change it with `polku users set-password admin`)", highlight=False, soft_wrap=True,
    )
    out.print(f"\nA read key for trying the API: [bold]{token}[/bold]", highlight=False, soft_wrap=True)
    out.print(f"  curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/v1/stats", highlight=False, soft_wrap=True)
    if serve_after:
        serve(host=SETTINGS.host, port=port, refresh_seconds=SETTINGS.refresh_seconds)

