"""Polku's exceptions. Each carries the HTTP status the API answers with.

    PolkuError
    ├── InvalidInput (422)          bad data from a caller; names the item and field
    │   └── ImportRejected (422)    a file had bad rows; nothing was written
    ├── ConfigError (422)           a workspace YAML file is wrong; names file and line
    ├── NotFound (404)              no such contact, account, merge or key
    ├── Unauthorized (401)          no API key, or not a valid one
    ├── Forbidden (403)             the key's scope does not allow this
    ├── PayloadTooLarge (413)       a batch over the limit
    └── WorkspaceLocked (409)       another process holds the workspace's database
"""

from __future__ import annotations

from typing import Any


class PolkuError(Exception):
    """Base of every error Polku raises on purpose."""

    status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(PolkuError):
    status, code = 422, "invalid_input"


class ImportRejected(InvalidInput):
    code = "import_rejected"


class ConfigError(PolkuError):
    status, code = 422, "config_error"


class NotFound(PolkuError):
    status, code = 404, "not_found"


class Unauthorized(PolkuError):
    status, code = 401, "unauthorized"


class Forbidden(PolkuError):
    status, code = 403, "forbidden"


class PayloadTooLarge(PolkuError):
    status, code = 413, "payload_too_large"


class WorkspaceLocked(PolkuError):
    status, code = 409, "workspace_locked"
