"""The /v1/cx routes (and the public survey pages), gathered from the modules that own them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from polku.cx import api_measure, api_surveys, api_text

if TYPE_CHECKING:
    from polku.workspace import Workspace


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[[], Any]) -> None:
    """Install every CX route on the app; ``scope(name)`` is the API-key check, ``fresh()`` waits for a refresh."""
    # one call per module, e.g. ``survey_api.add_routes(app, ws, scope, fresh)``
    api_surveys.add_routes(app, ws, scope, fresh)
    api_measure.add_routes(app, ws, scope, fresh)
    api_text.add_routes(app, ws, scope, fresh)
