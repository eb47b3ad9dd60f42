"""API keys: random secrets, stored as SHA-256 hashes, each with a scope."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}


class Scope(StrEnum):
    """What a key may do: read < write < admin."""

    read = "read"
    write = "write"
    admin = "admin"


def new_token() -> tuple[str, str, str]:
    """A fresh key: (key_id, secret, token the client sends)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    return key_id, secret, f"pk_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    """The stored form of a secret. Secrets are long and random, so a fast hash is safe."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "pk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a secret with its stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def allows(granted: str, needed: str) -> bool:
    """Whether a key of scope ``granted`` may do what needs ``needed``."""
    return SCOPE_RANK[granted] >= SCOPE_RANK[needed]
