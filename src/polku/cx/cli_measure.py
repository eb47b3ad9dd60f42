"""`polku cx scores|targets|health|risks|alerts|alert|config`: CX measurement from the command line (thin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from polku.cx import alerts as cx_alerts
from polku.cx import measure_ops as ops

measure_app = typer.Typer()
alert_app = typer.Typer(no_args_is_help=True, help="Acknowledge or close a CX alert, with a note.")
config_app = typer.Typer(no_args_is_help=True, help="The workspace's cx.yaml.")
measure_app.add_typer(alert_app, name="alert")
measure_app.add_typer(config_app, name="config")
out = Console()

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
AsOf = Annotated[datetime | None, typer.Option("--as-of", help="Measure as of this time (UTC), not now.")]
From = Annotated[datetime | None, typer.Option("--from", help="Only answers from this time on (UTC).")]
To = Annotated[datetime | None, typer.Option("--to", help="Only answers before this time (UTC).")]
Note = Annotated[str | None, typer.Option("--note", help="What was done or decided.")]
By = Annotated[str | None, typer.Option("--by", help="Who did it (e.g. your e-mail).")]


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci or ci[0] is None else f"{ci[0]:.1f} to {ci[1]:.1f}"


@measure_app.command("scores")
def scores(
    by: Annotated[str | None, typer.Option("--by", help="Group by role, org_level, phase, survey, language or trigger_type.")] = None,
    start: From = None, end: To = None, as_json: AsJson = False,
) -> None:
    """NPS, CSAT (% satisfied and mean) and CES with confidence intervals, overall or by a dimension."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        result = ops.scores(ws, by=by, start=start, end=end)
    if as_json:
        _json(result)
        return
    table = Table(title=f"CX scores ({result['answers']} answers; {result['confidence']:.0%} intervals)", title_justify="left")
    if by:
        table.add_column(by)
    for column in ("measure", "value", "interval", "n", "better", ""):
        table.add_column(column)
    for row in result["rows"]:
        for name in ("nps", "csat", "csat_mean", "ces"):
            est = row[name]
            flag = "not enough data" if est["n"] == 0 else "small sample" if est["small_sample"] else ""
            cells = [name, _num(est["value"]), _ci(est["ci"]), str(est["n"]), est["better"], flag]
            table.add_row(*([str(row[by])] if by else []), *cells)
    out.print(table)


@measure_app.command("targets")
def targets(as_of: AsOf = None, start: From = None, as_json: AsJson = False) -> None:
    """Each target experience of cx.yaml: measured value, target, gap, trend, interval, n and flags."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        result = ops.targets(ws, as_of=as_of, start=start)
    if as_json:
        _json(result)
        return
    if not result["targets"]:
        out.print("no target experiences: add them to cx.yaml in the workspace (see docs/cx-measure.md)")
        return
    table = Table(title="Target experiences", title_justify="left")
    for column in ("target", "whose / where", "measure", "measured", "target", "gap", "trend", "interval", "n", "status"):
        table.add_column(column)
    for t in result["targets"]:
        for i, d in enumerate(t["dimensions"]):
            goal = f"{'≥' if d['direction'] == 'at_least' else '≤'} {d['target']:g}"
            trend = d["trend"]["direction"] + (f" ({d['trend']['change']:+.1f})" if d["trend"]["change"] is not None else "")
            table.add_row(t["title"] if i == 0 else "", f"{t['attribution']} / {t['scope']}" if i == 0 else "",
                          d["measure"], _num(d["value"]), goal, _num(d["gap"]), trend, _ci(d["ci"]), str(d["n"]),
                          d["status"].replace("_", " "))
    out.print(table)


@measure_app.command("health")
def health(
    account: Annotated[str | None, typer.Argument(help="An account id or domain; without it, the list.")] = None,
    as_of: AsOf = None, limit: Annotated[int, typer.Option(help="How many accounts in the list.")] = 30,
    as_json: AsJson = False,
) -> None:
    """One account's CX health card (components, reasons, touchpoint network), or the list, least healthy first."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        result: Any = ops.health(ws, account, as_of=as_of) if account else ops.health_list(ws, as_of=as_of, limit=limit)
    if as_json:
        _json(result)
    elif account:
        _print_card(result)
    else:
        table = Table(title="Account CX health, least healthy first", title_justify="left")
        for column in ("account", "name", "health", "drop", "coverage", "why"):
            table.add_column(column)
        for r in result:
            table.add_row(r["account_id"], r["name"] or "", _num(r["health"], 0), _num(r["drop"], 0),
                          f"{r['coverage']:.0%}", "; ".join(r["reasons"]))
        out.print(table)


def _print_card(card: dict[str, Any]) -> None:
    drop = f", {card['drop']:+.0f} points lost in {card['drop_days']} days" if card["drop"] else ""
    score = "no score" if card["health"] is None else f"health {card['health']:.0f}/100"
    out.print(f"[bold]{card['account_id']}[/] {card['name'] or ''}  {score}{drop}  (owner {card['owner'] or 'none'})")
    for c in card["components"]:
        out.print(f"  {c['name']:<11} {c['score']:5.0f}  ×{c['weight']:.2f}  {c['reason']}")
    levels = card["network"].get("levels", {})
    if levels:
        out.print("  network: " + ", ".join(f"{lv} {g['signal']} ({g['heard_from']}/{g['contacts']} heard)"
                                             for lv, g in levels.items()))
    for reason in card["reasons"]:
        out.print(f"  • {reason}")


@measure_app.command("risks")
def risks(as_of: AsOf = None, limit: Annotated[int, typer.Option(help="How many.")] = 30, as_json: AsJson = False) -> None:
    """Accounts at risk (low or falling health), worst first, with reasons."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        rows = ops.risks(ws, as_of=as_of, limit=limit)
    if as_json:
        _json(rows)
        return
    table = Table(title="Accounts at risk", title_justify="left")
    for column in ("account", "name", "owner", "health", "drop", "reasons"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["account_id"], r["name"] or "", r["owner"] or "", _num(r["health"], 0), _num(r["drop"], 0),
                      "; ".join(r["reasons"][:3]))
    out.print(table)


@measure_app.command("alerts")
def alerts(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or closed.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None,
    check: Annotated[bool, typer.Option("--check", help="First look for new detractors and health drops.")] = False,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
    as_json: AsJson = False,
) -> None:
    """CX alerts to account owners (detractor answers, falling health), newest first."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        checked = cx_alerts.check_alerts(ws) if check else None
        rows = cx_alerts.list_alerts(ws, status=status, account=account, owner=owner, limit=limit)
    if as_json:
        _json({"check": checked, "alerts": rows} if check else rows)
        return
    if checked is not None:
        out.print(f"checked: {len(checked['created'])} new alerts, {len(checked['enrolled'])} enrolments")
    table = Table(title="CX alerts", title_justify="left")
    for column in ("alert", "kind", "status", "account", "owner", "reason", "last action"):
        table.add_column(column)
    for r in rows:
        last = r["actions"][-1] if r["actions"] else {}
        table.add_row(r["alert_id"], r["kind"], r["status"], r["account_id"] or "", r["owner"] or "", r["reason"],
                      f"{last.get('action', '')}: {last.get('note') or ''}")
    out.print(table)


def _update(alert_id: str, action: str, note: str | None, by: str | None) -> None:
    from polku.cli import workspace

    with workspace(create=False) as ws:
        row = cx_alerts.update_alert(ws, alert_id, action, note=note, by=by)  # type: ignore[arg-type]
    out.print(f"{row['alert_id']} is {row['status']}")


@alert_app.command("ack")
def ack(alert_id: str, note: Note = None, by: By = None) -> None:
    """Acknowledge an alert: someone is on it."""
    _update(alert_id, "ack", note, by)


@alert_app.command("close")
def close(alert_id: str, note: Note = None, by: By = None) -> None:
    """Close an alert, saying what was done."""
    _update(alert_id, "close", note, by)


@alert_app.command("note")
def note(alert_id: str, note: Annotated[str, typer.Option("--note", help="The note.")], by: By = None) -> None:
    """Add a note to an alert's log without changing its status."""
    _update(alert_id, "note", note, by)


@config_app.command("check")
def check(as_json: AsJson = False) -> None:
    """Check cx.yaml: every problem is named with file and line."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        result = ops.check_config(ws)
    if as_json:
        _json(result)
        return
    if not result["exists"]:
        out.print(f"no {result['file']}: the defaults apply (no targets)")
        return
    out.print(f"{result['file']} is valid: {len(result['targets'])} targets ({', '.join(result['targets']) or 'none'}); "
              f"CES: {result['ces_better']} is better")
