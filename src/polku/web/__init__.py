"""The dashboard: server-rendered pages over the same library calls as the ``/v1`` routes.

``install(app, ws, scope, fresh)`` adds the sign-in pages, every registered page whose
data exists, the static files (ECharts is shipped in ``static/vendor``) and the ``/v1``
routes the dashboard needs (search, stages, timelines) to the API app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polku.web.pages import Page, Panel, Registry, has_rows, registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI

    from polku.workspace import Workspace

__all__ = ["Page", "Panel", "Registry", "has_rows", "install", "registry"]


def install(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """Add the dashboard and its ``/v1`` routes to the API app (loaded on first use: the CLI stays quick)."""
    from polku.web.mount import install as mount

    mount(app, ws, scope, fresh)
