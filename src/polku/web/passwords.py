"""Password hashes: scrypt from the standard library, with a random salt per user.

The stored form names its parameters (``scrypt$n$r$p$salt$hash``), so a later Polku can
raise the cost and still check the passwords hashed before.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1  # 16 MiB and about 0.1 s per check on a small server
DKLEN = 32
MIN_LENGTH = 10
_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=DKLEN)


def hash_password(password: str) -> str:
    """The stored form of a password: scrypt with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored hash (constant-time comparison)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    n, r, p = (int(x) for x in parts[1:4])
    expected = base64.b64decode(parts[5])
    return hmac.compare_digest(_derive(password, base64.b64decode(parts[4]), n, r, p), expected)


@functools.cache
def dummy_hash() -> str:
    """A hash to check when a user name is unknown, so a wrong name costs as much as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def new_password() -> str:
    """A random password for a new user (shown once), about 96 bits."""
    return secrets.token_urlsafe(12)
