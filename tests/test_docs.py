"""The documentation keeps up with the product (in the manner of Datasette's documentation tests).

Fails when a CLI command, an HTTP route, a standard event type or a channel exists in
the code but not in docs/guide.md or docs/events.md, or when the standard event table
of docs/events.md drifts from ``polku.model.STANDARD_EVENTS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.routing import APIRoute

from polku import Workspace
from polku.api import create_app
from polku.cli import app as cli_app
from polku.model import STANDARD_EVENTS, Channel

DOCS = Path(__file__).resolve().parents[1] / "docs"
# The user guide: guide.md and its chapters (every other Markdown file directly in docs/).
GUIDE = "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))
EVENTS = (DOCS / "events.md").read_text(encoding="utf-8")
DECISIONS = sorted((DOCS / "decisions").glob("[0-9][0-9][0-9][0-9]-*.md"))


def _commands(group: Any, prefix: str = "") -> Iterator[str]:
    """Every command and sub-command name of a (Typer) click group, as typed after `polku`.

    Typer may bundle its own copy of click, so groups are recognised by their
    ``commands`` mapping rather than by class.
    """
    for name, command in sorted(group.commands.items()):
        if getattr(command, "hidden", False):
            continue
        full = f"{prefix}{name}"
        yield full
        if isinstance(getattr(command, "commands", None), dict):
            yield from _commands(command, f"{full} ")


CLI_COMMANDS = list(_commands(typer.main.get_command(cli_app)))


def _mentioned(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as a whole command (not as `polku import-accounts` for `polku import`)."""
    return re.search(re.escape(phrase) + r"(?![\w-])", text) is not None


def test_the_cli_has_commands_to_document() -> None:
    assert {"import", "serve", "show account", "keys create"} <= set(CLI_COMMANDS)


@pytest.mark.parametrize("command", CLI_COMMANDS)
def test_every_cli_command_is_in_the_guide(command: str) -> None:
    assert _mentioned(GUIDE, f"polku {command}"), f"the guide (docs/*.md) does not mention `polku {command}`"


def _v1_routes(tmp_path: Path) -> list[tuple[str, str]]:
    with Workspace(tmp_path / "ws") as ws:
        app = create_app(ws)
        return sorted(
            (method, route.path)
            for route in app.routes
            if isinstance(route, APIRoute) and route.path.startswith("/v1")
            for method in route.methods
        )


def test_every_v1_route_is_in_the_guide(tmp_path: Path) -> None:
    routes = _v1_routes(tmp_path)
    assert routes, "create_app has no /v1 routes"
    missing = [f"{m} {p}" for m, p in routes if not _mentioned(GUIDE, f"{m} {p}")]
    assert not missing, f"the guide (docs/*.md) does not document: {missing}"


@pytest.mark.parametrize("event_type", list(STANDARD_EVENTS))
def test_every_standard_event_type_is_in_events_md(event_type: str) -> None:
    assert f"`{event_type}`" in EVENTS, f"docs/events.md does not mention `{event_type}`"


@pytest.mark.parametrize("channel", [c.value for c in Channel])
def test_every_channel_is_in_events_md(channel: str) -> None:
    assert f"`{channel}`" in EVENTS, f"docs/events.md does not mention the channel `{channel}`"


def _standard_table(text: str) -> list[tuple[str, str, str]]:
    """The rows of the table under the header `| type | usual channel | meaning |`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"\|\s*type\s*\|\s*usual channel\s*\|\s*meaning\s*\|", line.strip()))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2]))
    return rows


def test_the_standard_event_table_matches_the_code() -> None:
    expected = [(name, channel, meaning) for name, (channel, meaning) in STANDARD_EVENTS.items()]
    assert _standard_table(EVENTS) == expected, (
        "the standard event table of docs/events.md differs from polku.model.STANDARD_EVENTS; "
        "regenerate it (see the comment above the table)"
    )


def test_decisions_are_numbered_and_complete() -> None:
    assert DECISIONS, "docs/decisions/ holds no decision records"
    for number, path in enumerate(DECISIONS, start=1):
        assert path.name.startswith(f"{number:04d}-"), f"{path.name}: decisions are numbered 0001, 0002, ... without gaps"
        text = path.read_text(encoding="utf-8")
        for section in ("## Context", "## Decision", "## Consequences"):
            assert section in text, f"{path.name} has no '{section}' section"
