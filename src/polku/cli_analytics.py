"""The analytics commands of the `polku` CLI: funnel, velocity, paths, variants, pain-points, attribution.

Thin like the rest of the CLI: each command turns its options into the insight's query
(the same JSON body ``POST /v1/analytics/{name}`` takes; ``--query FILE`` gives it whole),
runs it through ``polku.analytics.registry`` and prints tables, ``--json`` or ``--csv``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from polku.errors import InvalidInput
from polku.model import STAGE_ORDER

analytics_app = typer.Typer()
out = Console()

Account = Annotated[bool, typer.Option("--account", help="Count accounts (buying groups), not contacts.")]
From = Annotated[datetime | None, typer.Option("--from", help="First day or time included (UTC).")]
To = Annotated[datetime | None, typer.Option("--to", help="First day or time excluded (UTC).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print the main table as CSV (see --table).")]
Which = Annotated[str | None, typer.Option("--table", help="Which table --csv prints (default: the first).")]
QueryFile = Annotated[
    Path | None, typer.Option("--query", help="A JSON file with the query; options given here override it.")
]
ByChannel = Annotated[bool, typer.Option("--by-channel", help="Name nodes channel:type instead of type.")]
Goal = Annotated[
    str | None, typer.Option("--goal", help="A lifecycle stage or an event type that counts as converting (default opportunity).")
]
Exclude = Annotated[list[str] | None, typer.Option("--exclude", help="Leave out this touchpoint type (repeatable).")]

SHOWN_ROWS = 50


def step(text: str) -> dict[str, Any]:
    """A funnel step or goal from the command line: a stage name, ``stage:NAME``, or ``TYPE[/key=value...]``.

    ``channel=`` and ``topic=`` filter those columns; any other key tests an event property.
    """
    text = text.strip()
    if text.startswith("stage:") or text in STAGE_ORDER:
        return {"stage": text.removeprefix("stage:")}
    event, *filters = text.split("/")
    out_step: dict[str, Any] = {"event": event}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or not key:
            raise InvalidInput(f"step {text!r}: filters are key=value after a '/', e.g. content_download/topic=pricing")
        if key in ("channel", "topic"):
            out_step[key] = value
        else:
            out_step.setdefault("properties", {})[key] = {"equals": value}
    return out_step


def _body(query_file: Path | None, **options: Any) -> dict[str, Any]:
    """The query: the file's JSON, then every option given on the command line."""
    body: dict[str, Any] = {}
    if query_file is not None:
        try:
            loaded = json.loads(query_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"--query {query_file}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidInput(f"--query {query_file}: the file must hold a JSON object")
        body.update(loaded)
    body.update({k: v for k, v in options.items() if v is not None})
    return body


def _run(name: str, body: Callable[[], dict[str, Any]], as_json: bool, as_csv: bool, which: str | None) -> None:
    """Build the query (inside the workspace's error handling), run it and print the result."""
    from polku.analytics import registry
    from polku.cli import workspace  # the CLI module owns the workspace options and error printing

    with workspace(create=False) as ws:
        query = registry.parse(name, body())
        result = registry.run(name, query, ws.tables())
        if as_json:
            sys.stdout.write(json.dumps(registry.payload(result), indent=2, ensure_ascii=False) + "\n")
        elif as_csv:
            _csv(registry.frames(result), which)
        else:
            for title, frame in registry.frames(result).items():
                if frame is not None:
                    out.print(_table(title, frame))
            for note in [*getattr(result, "warnings", ()), *getattr(result, "notes", ())]:
                out.print(f"[yellow]note:[/] {note}")


def _csv(frames: dict[str, pd.DataFrame | None], which: str | None) -> None:
    available = {k: v for k, v in frames.items() if v is not None}
    name = which or next(iter(available), None)
    if name not in available:
        raise InvalidInput(f"--table must be one of {', '.join(available)}, got {which!r}")
    frame = available[name]
    frame = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
    frame.to_csv(sys.stdout, index=False)


def _duration(seconds: float) -> str:
    """Seconds as the largest unit that keeps them readable: 45 s, 12.5 min, 3.2 h, 18.4 d."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _cell(value: Any, column: str = "") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if column.endswith("_seconds") and isinstance(value, (int, float)):
        return _duration(float(value))
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _table(title: str, frame: pd.DataFrame) -> Table:
    """A Rich table of the first rows of ``frame``."""
    frame = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
    shown = frame.head(SHOWN_ROWS)
    more = f" (first {SHOWN_ROWS} of {len(frame)})" if len(frame) > SHOWN_ROWS else ""
    table = Table(title=title.replace("_", " ") + more, title_justify="left")
    for column in shown.columns:
        table.add_column(str(column), justify="right" if pd.api.types.is_numeric_dtype(shown[column]) else "left")
    for row in shown.itertuples(index=False):
        table.add_row(*(_cell(v, str(c)) for v, c in zip(row, shown.columns, strict=True)))
    return table


def _subject(account: bool) -> str | None:
    return "account" if account else None


@analytics_app.command()
def funnel(
    steps: Annotated[list[str], typer.Argument(help="Steps in order: event types (TYPE/key=value filters) or stage:NAME.")],
    window: Annotated[str | None, typer.Option(help="Time allowed from step 1 to the last, e.g. 30d.")] = None,
    breakdown: Annotated[str | None, typer.Option(help="channel, topic, role, org_level, industry, country or owner.")] = None,
    account: Account = False, date_from: From = None, date_to: To = None, query: QueryFile = None,
    as_json: AsJson = False, as_csv: AsCsv = False, which: Which = None,
) -> None:
    """A conversion funnel: entered, converted and drop-off per step, with intervals and times between steps."""

    def body() -> dict[str, Any]:
        return _body(query, steps=[step(s) for s in steps], window=window, breakdown=breakdown,
                     subject=_subject(account), date_from=date_from, date_to=date_to)

    _run("funnel", body, as_json, as_csv, which)


@analytics_app.command()
def velocity(
    within: Annotated[str | None, typer.Option(help="Count stage-to-stage conversion within this time, e.g. 90d.")] = None,
    account: Account = False, date_from: From = None, date_to: To = None, query: QueryFile = None,
    as_json: AsJson = False, as_csv: AsCsv = False, which: Which = None,
) -> None:
    """Time in each lifecycle stage, stage-to-stage conversion by monthly cohort, and stalled deals."""

    def body() -> dict[str, Any]:
        return _body(query, within=within, subject=_subject(account), date_from=date_from, date_to=date_to)

    _run("velocity", body, as_json, as_csv, which)


@analytics_app.command()
def paths(
    start: Annotated[str | None, typer.Option("--start", help="Anchor touchpoint (TYPE/key=value); default each journey's first.")] = None,
    previous: Annotated[bool, typer.Option("--previous", help="Look backwards from the anchor.")] = False,
    steps: Annotated[int | None, typer.Option(help="How many steps to follow (1-10).")] = None,
    by_channel: ByChannel = False, exclude: Exclude = None, account: Account = False,
    date_from: From = None, date_to: To = None, query: QueryFile = None,
    as_json: AsJson = False, as_csv: AsCsv = False, which: Which = None,
) -> None:
    """The most common next (or previous) touchpoints, with a Sankey-ready node and link table."""

    def body() -> dict[str, Any]:
        anchor = step(start) if start else None
        if anchor is not None and "stage" in anchor:
            raise InvalidInput("--start must be a touchpoint type, not a stage")
        return _body(query, start=anchor, direction="previous" if previous else None, steps=steps,
                     node_by="channel_type" if by_channel else None, exclude=exclude,
                     subject=_subject(account), date_from=date_from, date_to=date_to)

    _run("paths", body, as_json, as_csv, which)


@analytics_app.command()
def variants(
    top: Annotated[int | None, typer.Option(help="How many variants to list.")] = None,
    goal: Goal = None,
    by_channel: ByChannel = False, exclude: Exclude = None, account: Account = False,
    date_from: From = None, date_to: To = None, query: QueryFile = None,
    as_json: AsJson = False, as_csv: AsCsv = False, which: Which = None,
) -> None:
    """The most frequent journey variants (ordered touchpoint types), their share and conversion rate."""

    def body() -> dict[str, Any]:
        return _body(query, top=top, goal=step(goal) if goal else None,
                     node_by="channel_type" if by_channel else None, exclude=exclude,
                     subject=_subject(account), date_from=date_from, date_to=date_to)

    _run("variants", body, as_json, as_csv, which)


@analytics_app.command("pain-points")
def pain_points(
    inactivity: Annotated[str | None, typer.Option(help="No touchpoint for this long means gone, e.g. 30d.")] = None,
    goal: Goal = None,
    min_support: Annotated[int | None, typer.Option(help="Fewest touchpoints behind a row.")] = None,
    by_channel: ByChannel = False, exclude: Exclude = None, account: Account = False,
    date_from: From = None, date_to: To = None, query: QueryFile = None,
    as_json: AsJson = False, as_csv: AsCsv = False, which: Which = None,
) -> None:
    """Touchpoints and transitions after which journeys drop out far more often than usual."""

    def body() -> dict[str, Any]:
        return _body(query, inactivity=inactivity, goal=step(goal) if goal else None, min_support=min_support,
                     node_by="channel_type" if by_channel else None, exclude=exclude,
                     subject=_subject(account), date_from=date_from, date_to=date_to)

    _run("pain-points", body, as_json, as_csv, which)


@analytics_app.command()
def attribution(
    conversion: Annotated[
        str | None, typer.Option(help="A lifecycle stage or an event type that counts as converting (default opportunity).")
    ] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated models (default: all seven).")] = None,
    by_type: Annotated[bool, typer.Option("--by-type", help="Credit touchpoint types instead of channels.")] = False,
    lookback_days: Annotated[int | None, typer.Option("--lookback-days", help="Only touchpoints this many days before converting.")] = None,
    account: Account = False, date_from: From = None, date_to: To = None, query: QueryFile = None,
    as_json: AsJson = False, as_csv: AsCsv = False, which: Which = None,
) -> None:
    """Credit per channel (or type) for conversions by first/last touch, linear, time decay, position, Markov and Shapley."""

    def body() -> dict[str, Any]:
        goal = step(conversion) if conversion else None
        target = None if goal is None else {"stage": goal["stage"]} if "stage" in goal else {"event_type": goal["event"]}
        return _body(query, conversion=target,
                     models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
                     by="type" if by_type else None, lookback_days=lookback_days,
                     level=_subject(account), date_from=date_from, date_to=date_to)

    _run("attribution", body, as_json, as_csv, which)
