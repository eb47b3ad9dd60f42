"""Signed survey links: ``/s/{invite id}.{signature}``, so nobody can reach another person's survey.

The invite id is random (``secrets``); the signature is HMAC-SHA256 over it with the
workspace's own CX secret (meta key ``cx_secret``, apart from the nurture tracking secret),
truncated to 128 bits and compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final

from polku.errors import PolkuError
from polku.nurture.tokens import ensure_secret
from polku.store.duck import DuckStore

SECRET_KEY: Final[str] = "cx_secret"
_SIG_BYTES: Final[int] = 16
_DOMAIN: Final[bytes] = b"polku-survey-v1|"
_INVITE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{22}$")


class BadToken(PolkuError):
    """A survey link whose token is not one we issued (altered, truncated or from another workspace)."""

    status, code = 400, "invalid_token"


def new_invite_id() -> str:
    """A fresh random invitation id (96 bits, URL-safe)."""
    return secrets.token_urlsafe(12)


def secret(store: DuckStore) -> str:
    """The workspace's CX secret, created on first use (call inside a write)."""
    return ensure_secret(store, SECRET_KEY)


def _signature(secret_hex: str, invite_id: str) -> str:
    digest = hmac.new(bytes.fromhex(secret_hex), _DOMAIN + invite_id.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make(secret_hex: str, invite_id: str) -> str:
    """The token of an invitation: its id and the id's signature."""
    return f"{invite_id}.{_signature(secret_hex, invite_id)}"


def read(secret_hex: str | None, token: str) -> str:
    """The invitation id a token names; raises BadToken saying why it is not valid."""
    invite_id, dot, sig = token.partition(".")
    if not dot or not _INVITE_ID.match(invite_id) or not _SIGNATURE.match(sig):
        raise BadToken("this survey link is damaged or incomplete; open it again from the message you received")
    if secret_hex is None or not hmac.compare_digest(sig.encode(), _signature(secret_hex, invite_id).encode()):
        raise BadToken("this survey link is not valid: it was altered or does not belong to this service")
    return invite_id
