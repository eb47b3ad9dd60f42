"""`polku cx feedback` and `polku cx sentiment`: feedback text from the command line (thin)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from polku.cx.text.names import DEFAULT_SAMPLE, MODELS
from polku.errors import PolkuError

text_app = typer.Typer()
out = Console()
err = Console(stderr=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Model = Annotated[str, typer.Option("--model", help=f"Sentiment model: {', '.join(MODELS)}.")]


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str, ensure_ascii=False))


def _sentiment(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return ""
    return f"{s['mean']:+.2f} ({s['negative']:.0%} neg, {s['positive']:.0%} pos)"


def _nps(scores: dict[str, Any]) -> tuple[str, str]:
    """The topic's NPS and its effect against the other comments, as table cells."""
    e = scores.get("nps")
    if e is None:
        return "", ""
    value = f"{e['value']:+.0f} (n {e['n']})"
    if e["effect"] is None:
        return value, ""
    effect = f"{e['effect']:+.0f}"
    if e["effect_ci"] is not None:
        effect += f" [{e['effect_ci'][0]:+.0f}, {e['effect_ci'][1]:+.0f}]"
    return value, effect + (" ▼" if e["drags_down"] else "")


def _clip(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@text_app.command("feedback")
def feedback(
    start: Annotated[datetime | None, typer.Option("--from", help="Only texts from this time on (UTC).")] = None,
    end: Annotated[datetime | None, typer.Option("--to", help="Only texts before this time (UTC).")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's texts (id or domain).")] = None,
    model: Model = "auto",
    sample: Annotated[int, typer.Option(help="At most this many distinct texts go through e5 (auto).")] = DEFAULT_SAMPLE,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the topic grouping.")] = 0,
    tickets: Annotated[bool, typer.Option(help="Include ticket subjects and descriptions.")] = True,
    cache: Annotated[bool, typer.Option(help="Keep e5 embeddings in the workspace's cache/ folder.")] = True,
    as_json: AsJson = False,
) -> None:
    """Topics of survey comments and tickets: volume, sentiment, NPS effect and example quotes."""
    from polku.cli import workspace
    from polku.cx.text.ops import feedback as run

    with workspace(create=False) as ws:
        result = run(ws, start=start, end=end, account=account, model=model, sample=sample, seed=seed,
                     tickets=tickets, cache=cache)
    if as_json:
        _json(result)
        return
    if not result["texts"]:
        out.print("no feedback texts (survey comments or tickets) in this selection")
        return
    nps = result["scores"].get("nps")
    overall = f"; NPS {nps['value']:+.0f} from {nps['n']} answers" if nps else ""
    table = Table(title=f"Feedback topics: {result['texts']:,} texts ({result['distinct']:,} distinct, "
                        f"{result['embedded']:,} through e5), model {result['model']}{overall}", title_justify="left")
    for column in ("topic", "keywords", "volume", "sentiment", "NPS", "NPS effect (95%)", "example"):
        table.add_column(column)
    for t in result["topics"]:
        value, effect = _nps(t["scores"])
        table.add_row(t["topic"], ", ".join(t["keywords"][:4]), f"{t['volume']:,} ({t['share']:.0%})",
                      _sentiment(t["sentiment"]), value, effect, _clip(t["examples"][0]) if t["examples"] else "")
    out.print(table)
    drags = [d for d in result["drags"] if d["measure"] == "nps"]
    if drags:
        out.print("Drag NPS down (effect against the other comments, 95% interval): " + "; ".join(
            f"{d['topic']} {d['effect']:+.0f} [{d['effect_ci'][0]:+.0f}, {d['effect_ci'][1]:+.0f}]" for d in drags))


@text_app.command("sentiment")
def sentiment(
    texts: Annotated[list[str], typer.Argument(help="One or more texts (quote each).")],
    model: Model = "auto",
    language: Annotated[str | None, typer.Option("--language", help="The texts' language (en, fi); guessed if not given.")] = None,
    as_json: AsJson = False,
) -> None:
    """Score one or more texts: sentiment label and score in [-1, 1] (and the likely topic with e5)."""
    from polku.cx.text.ops import score_texts

    try:
        result = score_texts(texts, model=model, languages=[language] * len(texts) if language else None)
    except PolkuError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    if as_json:
        _json(result)
        return
    table = Table(title=f"Sentiment (model {result['model']})", title_justify="left")
    for column in ("text", "language", "label", "score", "topic"):
        table.add_column(column)
    for r in result["results"]:
        score = "" if r["score"] is None else f"{r['score']:+.2f}"
        topic = f"{r['theme']} ({r['theme_probability']:.0%})" if "theme" in r else ""
        table.add_row(_clip(r["text"]), r["language"] or "", r["label"] or "", score, topic)
    out.print(table)
