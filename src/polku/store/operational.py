"""Writes of small operational state: identity overrides and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from polku.store.duck import DuckStore


def add_override(store: DuckStore, override_id: str, kind: str, a: str, b: str, reason: str, ts: datetime, now: datetime) -> None:
    """Record a manual merge (link a and b) or a split (never link a and b)."""
    store.execute(
        "INSERT INTO identity_overrides VALUES (?, ?, ?, ?, ?, ?, ?)", [override_id, kind, a, b, reason, now, ts]
    )


def drop_overrides(store: DuckStore, kind: str, a: str, b: str) -> None:
    """Remove overrides of a kind between two identities, in either order."""
    store.execute(
        "DELETE FROM identity_overrides WHERE kind = ? AND ((a = ? AND b = ?) OR (a = ? AND b = ?))",
        [kind, a, b, b, a],
    )


def overrides(store: DuckStore) -> list[dict[str, Any]]:
    """Every identity override, oldest first."""
    return store.query("SELECT * FROM identity_overrides ORDER BY created_at")


def add_key(store: DuckStore, key_id: str, secret_hash: str, scope: str, name: str | None, now: datetime) -> None:
    """Store a new API key (its secret only as a hash)."""
    store.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)", [key_id, secret_hash, scope, name, now])


def get_key(store: DuckStore, key_id: str) -> dict[str, Any] | None:
    """One API key's record, or None."""
    rows = store.query("SELECT * FROM api_keys WHERE key_id = ?", [key_id])
    return rows[0] if rows else None


def list_keys(store: DuckStore) -> list[dict[str, Any]]:
    """All API keys without their hashes."""
    return store.query("SELECT key_id, scope, name, created_at, revoked_at FROM api_keys ORDER BY created_at")


def revoke_key(store: DuckStore, key_id: str, now: datetime) -> bool:
    """Revoke a key; whether it existed and was active."""
    found = store.query("SELECT 1 FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id])
    store.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", [now, key_id])
    return bool(found)
