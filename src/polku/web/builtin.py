"""The dashboard's own pages, registered like any other area's; new areas add their line here."""

from __future__ import annotations

from polku.web import admin, analytics_pages, views
from polku.web.pages import Page, Registry


def register(registry: Registry) -> None:
    """Register the built-in pages once (later calls do nothing)."""
    if any(p.slug == "overview" for p in registry.pages):
        return
    registry.add_page(Page("overview", "Overview", "/overview", routes=views.router, order=10))
    registry.add_page(Page("search", "Search", "/search", order=20))  # its route is in views.router
    analytics_pages.register(registry)  # funnels, journey map, attribution, velocity: once touchpoints exist
    registry.add_page(Page("users", "Users", "/users", routes=admin.router, scope="admin", order=90))
    # Waiting for their areas (see docs/dashboard.md, "Adding a page"), for example:
    # registry.add_page(Page("journeys", "Journeys", "/journeys", routes=nurture_pages.router,
    #                        available=lambda ws: has_rows(ws, "nurture_journeys"), order=40))
