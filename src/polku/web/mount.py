"""Mounting the dashboard on the API app: sign-in pages, registered pages, static files, new /v1 routes.

No ``from __future__ import annotations``: FastAPI reads the dependency's annotations.
"""

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles

from polku.errors import NotFound
from polku.web import builtin, signin, v1
from polku.web.pages import Page, registry
from polku.web.site import Site
from polku.workspace import Workspace


def _gate(site: Site, page: Page) -> Callable[[Request], None]:
    """A dependency: signed in with the page's scope, and the page's data exists."""
    needs = site.needs(page.scope)

    def check(request: Request) -> None:
        needs(request)
        if not registry.is_available(site.ws, page.slug, page.available):
            raise NotFound(f"the {page.title} page has nothing to show in this workspace yet")

    return check


def install(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """Add the dashboard and its ``/v1`` routes to the app (``scope`` and ``fresh`` are the API's dependencies)."""
    builtin.register(registry)
    site = Site(ws, fresh)
    app.mount("/static", StaticFiles(packages=[("polku.web", "static")]), name="static")
    app.include_router(signin.router(site))
    for page in registry.pages:
        if page.routes is not None:
            app.include_router(page.routes(site), dependencies=[Depends(_gate(site, page))])
    v1.add_routes(app, ws, scope, fresh)
