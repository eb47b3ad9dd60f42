"""Dashboard users and sessions: the Python API under `polku users` and the sign-in pages.

A user has a name, a role and a scrypt password hash. Roles map onto the API key
scopes, so one ordering decides what a person or a key may do:
viewer → read, marketer → write, admin → admin.

A session id is 256 random bits, sent to the browser as a cookie and stored only as its
SHA-256 hash, with an expiry and a CSRF token for the session's forms.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from polku import keys
from polku.errors import InvalidInput, NotFound
from polku.model import utcnow
from polku.store import users as sql
from polku.store.duck import DuckStore
from polku.web import passwords

ROLE_SCOPE: Final[dict[str, str]] = {"viewer": "read", "marketer": "write", "admin": "admin"}
ROLES: Final[tuple[str, ...]] = tuple(ROLE_SCOPE)
SESSION_HOURS: Final[int] = 12
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class SignedIn:
    """A valid session: who, with which role, and the CSRF token of its forms."""

    name: str
    role: str
    csrf: str
    expires_at: datetime

    @property
    def scope(self) -> str:
        """The API scope this user's role corresponds to."""
        return ROLE_SCOPE[self.role]

    def may(self, needed: str) -> bool:
        """Whether this user may do what needs the scope ``needed`` (read, write or admin)."""
        return keys.allows(self.scope, needed)


def check_role(role: str) -> str:
    if role not in ROLE_SCOPE:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def create_user(store: DuckStore, name: str, role: str, password: str) -> None:
    """Add a user; raises InvalidInput for a taken or malformed name, a bad role or a short password."""
    if not NAME.fullmatch(name):
        raise InvalidInput(
            f"a user name is 1-64 letters, digits or . _ @ - (starting with a letter or digit), got {name!r}"
        )
    check_role(role)
    if len(password) < passwords.MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {passwords.MIN_LENGTH} characters")
    if sql.get_user(store, name) is not None:
        raise InvalidInput(f"there is already a user {name!r}")
    sql.add_user(store, name, role, passwords.hash_password(password), utcnow())


def list_users(store: DuckStore) -> list[dict[str, Any]]:
    """Every user (name, role, created_at, open sessions), never a password hash."""
    return sql.list_users(store)


def delete_user(store: DuckStore, name: str) -> None:
    """Delete a user and end their sessions; the last admin cannot be deleted."""
    user = sql.get_user(store, name)
    if user is None:
        raise NotFound(f"no user {name!r}")
    if user["role"] == "admin" and sql.count_admins(store) == 1:
        raise InvalidInput(f"{name!r} is the last admin; create another admin first")
    sql.delete_user(store, name)


def set_role(store: DuckStore, name: str, role: str) -> None:
    """Change a user's role (at once, in every open session); the last admin keeps theirs."""
    check_role(role)
    user = sql.get_user(store, name)
    if user is None:
        raise NotFound(f"no user {name!r}")
    if user["role"] == "admin" and role != "admin" and sql.count_admins(store) == 1:
        raise InvalidInput(f"{name!r} is the last admin; make another user admin first")
    sql.set_role(store, name, role)


def set_password(store: DuckStore, name: str, password: str) -> None:
    """Give a user a new password; their open sessions end."""
    if len(password) < passwords.MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {passwords.MIN_LENGTH} characters")
    if not sql.set_password(store, name, passwords.hash_password(password)):
        raise NotFound(f"no user {name!r}")


def check_password(store: DuckStore, name: str, password: str) -> str | None:
    """The user's role if the name and password match, else None (equal time for unknown names)."""
    user = sql.get_user(store, name)
    stored = user["password_hash"] if user else passwords.dummy_hash()
    ok = passwords.verify_password(password, stored)
    return str(user["role"]) if user and ok else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(store: DuckStore, name: str, *, hours: int = SESSION_HOURS) -> str:
    """Open a session for a user; returns the session id for the cookie (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    sql.add_session(store, _digest(token), name, secrets.token_urlsafe(32), now, now + timedelta(hours=hours))
    return token


def find_session(store: DuckStore, token: str | None) -> SignedIn | None:
    """The live session a cookie names, with the user's current role, or None."""
    if not token or len(token) > 128:
        return None
    row = sql.get_session(store, _digest(token), utcnow())
    if row is None:
        return None
    return SignedIn(name=row["name"], role=row["role"], csrf=row["csrf"], expires_at=row["expires_at"])


def end_session(store: DuckStore, token: str) -> None:
    """Sign out: the session id stops working at once."""
    sql.delete_session(store, _digest(token))
