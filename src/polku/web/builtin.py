"""The dashboard's own pages, registered like any other area's; new areas add their line here."""

from __future__ import annotations

from polku.web import admin, analytics_pages, cx_pages, journeys, panels, views
from polku.web.pages import Page, Registry


def register(registry: Registry) -> None:
    """Register the built-in pages once (later calls do nothing)."""
    if any(p.slug == "overview" for p in registry.pages):
        return
    registry.add_page(Page("overview", "Overview", "/overview", routes=views.router, order=10))
    registry.add_page(Page("search", "Search", "/search", order=20))  # its route is in views.router
    analytics_pages.register(registry)  # funnels, journey map, attribution, velocity: once touchpoints exist
    journeys.register(registry)  # once a journey is defined or has run
    panels.register(registry)  # score (once scored) and journeys (once anyone enrolled) on the 360° pages
    cx_pages.register(registry)  # CX targets, surveys, risks and alerts; CX health and answers panels
    registry.add_page(Page("users", "Users", "/users", routes=admin.router, scope="admin", order=90))
    # Other areas add theirs the same way (see docs/dashboard.md, "Adding a page").
