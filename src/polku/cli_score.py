"""The `polku score` commands: rescore everyone, explain one contact, rank leads, train and report the model."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

score_app = typer.Typer(help="Lead and account scores: rescore, explain, rank, train the predictive model.")
out = Console()

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _print_card(card: dict[str, Any]) -> None:
    out.print(f"[bold]{card['contact_id']}[/]  score {card['score']:.0f}  grade {card['grade']}  "
              f"(fit {card['fit']:.0f}, engagement {card['engagement']:.0f})"
              + (f"  P(opportunity) {card['probability']:.2f}" if card.get("probability") is not None else ""))
    for reason in card["reasons"]:
        out.print(f"  • {reason['text']}")


@score_app.callback(invoke_without_command=True)
def score(
    ctx: typer.Context,
    explain: Annotated[str | None, typer.Option("--explain", help="Show one contact's score and reasons now.")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", help="Score as of this time (UTC), not now.")] = None,
    qualify: Annotated[bool, typer.Option(help="Make prospects at or over the threshold leads (MQL).")] = True,
    as_json: AsJson = False,
) -> None:
    """Rescore every contact and account (or --explain one contact)."""
    if ctx.invoked_subcommand is not None:
        return
    from polku.cli import workspace

    with workspace(create=False) as ws:
        if explain:
            card = ws.leads.contact(explain, as_of=as_of)
            if as_json:
                out.print_json(json.dumps(card, default=str))
            else:
                _print_card(card)
            return
        result = ws.leads.rescore(as_of=as_of, qualify=qualify)
    model = "rules and the trained model" if result.with_model else "rules (no trained model yet)"
    out.print(f"scored {result.contacts:,} contacts and {result.accounts:,} accounts with {model}; "
              f"{len(result.qualified)} prospects became leads")


@score_app.command("leads")
def leads(
    min_score: Annotated[float, typer.Option("--min-score", help="Only scores at least this.")] = 0.0,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    stage: Annotated[str | None, typer.Option(help="Only contacts in this lifecycle stage.")] = None,
    as_json: AsJson = False,
) -> None:
    """Contacts ranked by score, as of the last rescore."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        rows = ws.leads.ranked(min_score=min_score, limit=limit, stage=stage)
    if as_json:
        out.print_json(json.dumps(rows, default=str))
        return
    table = Table(title="Leads by score", title_justify="left")
    for column in ("contact", "name", "account", "stage", "score", "grade", "P(opp)"):
        table.add_column(column)
    for r in rows:
        p = "" if r["probability"] is None else f"{r['probability']:.2f}"
        table.add_row(r["contact_id"], r["name"] or r["email"] or "", r["account_id"] or "", r["stage"] or "",
                      f"{r['score']:.0f}", r["grade"], p)
    out.print(table)


@score_app.command("train")
def train() -> None:
    """Train the predictive model on the workspace's history and print its report."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        report = ws.leads.train()
    out.print_json(json.dumps(report, default=str))


@score_app.command("report")
def report() -> None:
    """The trained model's report: training window, AUC and top-decile precision against the rule score."""
    from polku.cli import workspace

    with workspace(create=False) as ws:
        out.print_json(json.dumps(ws.leads.report(), default=str))
