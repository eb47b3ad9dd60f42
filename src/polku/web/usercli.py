"""`polku users ...`: create, list, change and delete the people who may sign in to the dashboard."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from polku.errors import InvalidInput
from polku.store.duck import DuckStore
from polku.web import passwords, users

app = typer.Typer(no_args_is_help=True, help="Create, list and delete dashboard users (roles: viewer, marketer, admin).")

RoleOption = Annotated[str, typer.Option("--role", help="viewer (read), marketer (read and act) or admin (everything).")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("create")
def create(name: str, role: RoleOption = "viewer", password_stdin: PasswordStdin = False) -> None:
    """Create a user; the password is asked for (or read with --password-stdin) and stored only as a scrypt hash."""
    from polku.cli import err, out, workspace  # the CLI's shared helpers (imported late: cli imports this module)

    try:
        users.check_role(role)  # before asking for a password
    except InvalidInput as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    password = _password(password_stdin)
    with workspace() as ws:
        users.create_user(ws.store, name, role, password)
    out.print(f"created {name} ({role})")


@app.command("list")
def list_users() -> None:
    """List users with their roles and open sessions (never their passwords)."""
    from polku.cli import out, workspace

    with workspace(create=False) as ws:
        rows = users.list_users(ws.store)
    table = Table()
    for col in ("name", "role", "created", "open sessions"):
        table.add_column(col)
    for u in rows:
        table.add_row(u["name"], u["role"], str(u["created_at"])[:19], str(u["sessions"]))
    out.print(table)


@app.command("set-password")
def set_password(name: str, password_stdin: PasswordStdin = False) -> None:
    """Give a user a new password (asked for, or read with --password-stdin); their sessions end."""
    from polku.cli import out, workspace

    password = _password(password_stdin)
    with workspace(create=False) as ws:
        users.set_password(ws.store, name, password)
    out.print(f"new password set for {name}")


@app.command("delete")
def delete(name: str) -> None:
    """Delete a user and end their sessions (the last admin cannot be deleted)."""
    from polku.cli import out, workspace

    with workspace(create=False) as ws:
        users.delete_user(ws.store, name)
    out.print(f"deleted {name}")


def demo_admin(store: DuckStore, name: str = "admin") -> str:
    """Create (or reset) the demo's admin user with a fresh random password; returns the password."""
    password = passwords.new_password()
    if any(u["name"] == name for u in users.list_users(store)):
        users.set_password(store, name, password)
    else:
        users.create_user(store, name, "admin", password)
    return password
