"""Polku: B2B customer-experience management and lead nurturing.

``Workspace`` is the way in: ``ws = polku.Workspace("polku-data")``.
"""

from polku.errors import (
    ConfigError,
    Forbidden,
    ImportRejected,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PolkuError,
    Unauthorized,
    WorkspaceLocked,
)
from polku.workspace import BatchResult, ImportResult, Workspace

__version__ = "0.1.0"

__all__ = [
    "BatchResult",
    "ConfigError",
    "Forbidden",
    "ImportRejected",
    "ImportResult",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "PolkuError",
    "Unauthorized",
    "Workspace",
    "WorkspaceLocked",
    "__version__",
]
