"""Signed tracking tokens: opens, clicks and unsubscribes name their message, and nobody can forge one.

A token is ``base64url(payload).base64url(HMAC-SHA256(secret, payload))[:16 bytes]`` with a
per-workspace secret kept in the workspace's meta table. The payload names the kind (o, c,
u), the message id and, for a click, the target URL, so a redirect can go nowhere else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from polku.errors import PolkuError
from polku.store.duck import DuckStore

SECRET_KEY: Final[str] = "nurture_secret"
KINDS: Final[dict[str, str]] = {"o": "open", "c": "click", "u": "unsubscribe"}
_SIG_BYTES: Final[int] = 16


class BadToken(PolkuError):
    """A tracking link whose token is not one we issued (tampered, truncated or from another workspace)."""

    status, code = 400, "invalid_token"


@dataclass(frozen=True)
class Claim:
    """What a valid token says."""

    kind: str  # open, click or unsubscribe
    message_id: str
    url: str | None = None


def ensure_secret(store: DuckStore, key: str = SECRET_KEY) -> str:
    """The workspace's secret under ``key`` (tracking by default), created on first use (call inside a write)."""
    secret = store.meta(key)
    if secret is None:
        secret = secrets.token_hex(32)
        store.set_meta(key, secret)
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: bytes) -> bytes:
    return hmac.new(bytes.fromhex(secret), b"polku-nurture-v1|" + payload, hashlib.sha256).digest()[:_SIG_BYTES]


def make(secret: str, kind: str, message_id: str, url: str | None = None) -> str:
    """A token for an open ('o'), click ('c', with its URL) or unsubscribe ('u') of a message."""
    payload = "|".join([kind, message_id, *([url] if url is not None else [])]).encode()
    return f"{_b64(payload)}.{_b64(_sign(secret, payload))}"


def read(secret: str | None, token: str, expected: str) -> Claim:
    """Check a token's signature and kind; raises BadToken with the reason."""
    body, _, sig = token.partition(".")
    try:
        payload = _unb64(body)
        given = _unb64(sig)
    except (ValueError, TypeError) as exc:
        raise BadToken("the link is damaged (its token is not valid base64)") from exc
    if secret is None or not hmac.compare_digest(given, _sign(secret, payload)):
        raise BadToken("the link's signature does not match: it was altered or is not from this workspace")
    parts = payload.decode("utf-8", errors="replace").split("|", 2)
    if parts[0] != expected or len(parts) < 2:
        raise BadToken(f"this link is not an {KINDS.get(expected, expected)} link")
    return Claim(KINDS[parts[0]], parts[1], parts[2] if len(parts) > 2 else None)


def fingerprint(secret: str) -> str:
    """A short, public id of the workspace's secret (part of Message-IDs, so two workspaces never clash)."""
    return hashlib.sha256(b"polku-workspace|" + bytes.fromhex(secret)).hexdigest()[:8]
