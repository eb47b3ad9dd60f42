"""Dashboard users and their sign-in sessions: every SQL statement that touches them.

Passwords arrive here already hashed and session ids only as hashes, so a copy of
the database gives neither a password nor a live session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from polku.store.duck import DuckStore


def add_user(store: DuckStore, name: str, role: str, password_hash: str, now: datetime) -> None:
    """Store a new user."""
    store.execute("INSERT INTO users VALUES (?, ?, ?, ?)", [name, role, password_hash, now])


def get_user(store: DuckStore, name: str) -> dict[str, Any] | None:
    """One user's record with its password hash, or None."""
    rows = store.query("SELECT * FROM users WHERE name = ?", [name])
    return rows[0] if rows else None


def list_users(store: DuckStore) -> list[dict[str, Any]]:
    """Every user without the password hash, with how many sessions are open, by name."""
    return store.query(
        """SELECT u.name, u.role, u.created_at,
                  (SELECT count(*) FROM sessions s WHERE s.user_name = u.name AND s.expires_at > now()) AS sessions
           FROM users u ORDER BY u.name"""
    )


def count_admins(store: DuckStore) -> int:
    """How many users have the admin role."""
    return int(store.query("SELECT count(*) AS n FROM users WHERE role = 'admin'")[0]["n"])


def set_role(store: DuckStore, name: str, role: str) -> bool:
    """Change a user's role; whether the user exists."""
    found = bool(store.query("SELECT 1 FROM users WHERE name = ?", [name]))
    store.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])
    return found


def set_password(store: DuckStore, name: str, password_hash: str) -> bool:
    """Replace a user's password hash and end their sessions; whether the user exists."""
    found = bool(store.query("SELECT 1 FROM users WHERE name = ?", [name]))
    store.execute("UPDATE users SET password_hash = ? WHERE name = ?", [password_hash, name])
    store.execute("DELETE FROM sessions WHERE user_name = ?", [name])
    return found


def delete_user(store: DuckStore, name: str) -> bool:
    """Delete a user and end their sessions; whether the user existed."""
    found = bool(store.query("SELECT 1 FROM users WHERE name = ?", [name]))
    store.execute("DELETE FROM sessions WHERE user_name = ?", [name])
    store.execute("DELETE FROM users WHERE name = ?", [name])
    return found


def add_session(store: DuckStore, session_hash: str, name: str, csrf: str, now: datetime, expires: datetime) -> None:
    """Open a session (known only by the hash of its id) and drop the expired ones."""
    store.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])
    store.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", [session_hash, name, csrf, now, expires])


def get_session(store: DuckStore, session_hash: str, now: datetime) -> dict[str, Any] | None:
    """The unexpired session with this id hash, with its user's current role, or None."""
    rows = store.query(
        """SELECT s.user_name AS name, u.role, s.csrf, s.expires_at FROM sessions s
           JOIN users u ON u.name = s.user_name WHERE s.session_hash = ? AND s.expires_at > ?""",
        [session_hash, now],
    )
    return rows[0] if rows else None


def delete_session(store: DuckStore, session_hash: str) -> None:
    """End one session."""
    store.execute("DELETE FROM sessions WHERE session_hash = ?", [session_hash])
