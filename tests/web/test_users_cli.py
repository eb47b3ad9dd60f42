"""`polku users ...` as a person types it: create (prompted or --password-stdin), list, set-password, delete."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from polku import Workspace
from polku.cli import app
from polku.web import users

runner = CliRunner()


def polku(home: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), *args], input=stdin)
    return result.exit_code, result.output


def test_users_commands(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    code, out = polku(home, "users", "create", "maria", "--role", "marketer", "--password-stdin", stdin="pass-word-123\n")
    assert code == 0 and "created maria (marketer)" in out
    code, out = polku(home, "users", "create", "olli", "--role", "admin", stdin="pass-word-456\npass-word-456\n")
    assert code == 0 and "created olli (admin)" in out and "pass-word-456" not in out  # prompted, hidden
    code, out = polku(home, "users", "create", "kim", "--role", "boss")
    assert code == 1 and "role must be one of viewer, marketer, admin" in out  # refused before asking
    code, out = polku(home, "users", "create", "kim", "--password-stdin", stdin="short\n")
    assert code == 1 and "at least 10 characters" in out
    code, out = polku(home, "users", "list")
    assert code == 0 and "maria" in out and "marketer" in out and "olli" in out and "scrypt" not in out
    code, out = polku(home, "users", "set-password", "maria", "--password-stdin", stdin="new-pass-word-789\n")
    assert code == 0
    with Workspace(home) as ws:
        assert users.check_password(ws.store, "maria", "new-pass-word-789") == "marketer"
        assert users.check_password(ws.store, "maria", "pass-word-123") is None
    code, out = polku(home, "users", "delete", "olli")
    assert code == 1 and "last admin" in out
    code, out = polku(home, "users", "delete", "maria")
    assert code == 0 and "deleted maria" in out
    code, out = polku(home, "users", "delete", "maria")
    assert code == 1 and "no user 'maria'" in out
    code, out = polku(tmp_path / "nowhere", "users", "list")
    assert code == 1 and "no workspace" in out
