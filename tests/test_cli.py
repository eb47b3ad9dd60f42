"""The command line, run as a user would: imports with progress and summaries, views, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polku import Workspace
from polku.cli import app
from polku.sim import generate, write_world

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    write_world(generate(12, seed=3, events_per_account=120), out)
    return out


def polku(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.output


def test_import_a_simulated_world_and_look_at_it(tmp_path: Path, world: Path) -> None:
    home = tmp_path / "ws"
    code, out = polku(home, "import-accounts", str(world / "accounts.csv"))
    assert code == 0 and "stored" in out and "12" in out
    code, out = polku(home, "import-contacts", str(world / "contacts.csv"))
    assert code == 0
    code, out = polku(home, "import", str(world / "events.parquet"))
    assert code == 0 and "rows read" in out and "contacts" in out
    code, out = polku(home, "stats", "--json")
    stats = json.loads(out)
    assert stats["accounts"] == 12 and stats["events"] > 1000
    assert sum(stats["contacts_by_stage"].values()) == stats["contacts"]
    top = stats["top_accounts"][0]["account_id"]
    code, out = polku(home, "show", "account", top)
    assert code == 0 and "Buying group" in out and "Stage history" in out and "Channel mix" in out
    code, out = polku(home, "show", "account", top, "--json")
    view = json.loads(out)
    member = next(m for m in view["buying_group"] if m["email"])
    code, out = polku(home, "show", "contact", member["email"], "--limit", "5", "--channel", "web")
    assert code == 0 and member["contact_id"] in out
    code, out = polku(home, "stats")
    assert code == 0 and "By lifecycle stage" in out


def test_bad_lines_are_listed_and_nothing_is_written(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    bad = tmp_path / "events.csv"
    bad.write_text("type,channel,anonymous_id,ts\npage_view,web,d1,2025-01-01\npage_view,fax,d2,2025-01-01\nPage,web,d3,2025-01-01\n")
    code, out = polku(home, "import", str(bad))
    assert code == 1
    assert "line 3: channel: unknown channel fax" in out and "line 4: type" in out and "nothing was imported" in out
    code, out = polku(home, "stats", "--json")
    assert json.loads(out)["events"] == 0
    code, out = polku(home, "import", str(bad), "--skip-bad", "--rejects", str(tmp_path / "rej.csv"))
    assert code == 0 and (tmp_path / "rej.csv").read_text().count("\n") == 3


def test_missing_things_get_clear_errors(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    code, out = polku(home, "stats")
    assert code == 1 and "no workspace at" in out and not home.exists()  # a typo in --home creates nothing
    code, out = polku(home, "import", str(tmp_path / "nope.csv"))
    assert code == 1 and "no such file" in out
    code, out = polku(home, "show", "contact", "nobody@acme.fi")
    assert code == 1 and "no contact" in out and "nobody@acme.fi" in out
    code, out = polku(home, "unmerge", "m_123", "--reason", "x")
    assert code == 1 and "no merge" in out
    code, out = polku(home, "keys", "create", "--scope", "root")
    assert code == 1 and "scope must be one of" in out


def test_keys_lifecycle(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    code, token = polku(home, "keys", "create", "--scope", "write", "--name", "web site")
    token = token.strip()
    assert code == 0 and token.startswith("pk_")
    key_id = token.split("_")[1]
    code, out = polku(home, "keys", "list")
    assert key_id in out and "web site" in out and token.split("_", 2)[2] not in out
    assert polku(home, "keys", "revoke", key_id)[0] == 0
    assert polku(home, "keys", "revoke", key_id)[0] == 1


def test_events_lists_the_vocabulary(tmp_path: Path) -> None:
    code, out = polku(tmp_path, "events")
    assert code == 0 and "quote_requested" in out and "ticket_closed" in out


def test_bad_view_options_are_named(tmp_path: Path, world: Path) -> None:
    home = tmp_path / "ws"
    polku(home, "import", str(world / "events.parquet"))
    key = json.loads(polku(home, "stats", "--json")[1])["top_accounts"][0]["account_id"]
    code, out = polku(home, "show", "account", key, "--channel", "fax")
    assert code == 1 and "unknown channel 'fax'" in out
    code, out = polku(home, "show", "account", key, "--limit", "-3")
    assert code == 1 and "limit must be between 1 and 1000" in out


def test_lead_accept_and_reject(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        ws.track("demo_requested", "web", email="anna@acme.fi")
        ws.track("demo_requested", "web", email="pekka@acme.fi")
    code, output = polku(home, "lead", "reject", "anna@acme.fi", "--reason", "no budget", "--by", "sami")
    assert code == 0 and "now prospect" in output
    code, output = polku(home, "lead", "accept", "pekka@acme.fi", "--reason", "budget ok")
    assert code == 0 and "now opportunity" in output
    code, output = polku(home, "lead", "accept", "nobody@acme.fi", "--reason", "x")
    assert code == 1 and "nobody@acme.fi" in output
