"""The registry of dashboard pages and of the panels other areas add to the 360° views.

A page appears in the navigation, and its routes answer, only when ``available(ws)`` is
true, so scoring, analytics, nurture and CX pages show up once their data exists. An
area plugs in by registering (see docs/dashboard.md, "Adding a page"):

    from polku.web.pages import Page, Panel, registry, has_rows

    registry.add_page(Page("journeys", "Journeys", "/journeys", routes=journeys_router,
                           available=lambda ws: has_rows(ws, "nurture_journeys")))
    registry.add_panel(Panel("score", "Score and reasons", subjects=("account", "contact"),
                             tables=score_tables, available=lambda ws: has_rows(ws, "scores")))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polku.keys import allows

if TYPE_CHECKING:
    from fastapi import APIRouter

    from polku.web.site import Site
    from polku.web.tables import Table
    from polku.workspace import Workspace

Check = Callable[["Workspace"], bool]
AVAILABILITY_TTL = 5.0  # seconds an availability answer is reused


def always(_: Workspace) -> bool:
    """Available in every workspace."""
    return True


def has_rows(ws: Workspace, table: str) -> bool:
    """Whether a table exists in the workspace and holds at least one row (for ``available`` checks)."""
    exists = ws.store.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [table])
    return bool(exists[0]["n"]) and bool(ws.store.query(f'SELECT 1 AS x FROM "{table}" LIMIT 1'))


@dataclass(frozen=True)
class Page:
    """A dashboard page: its nav entry, the least scope that may open it, its routes and when it exists."""

    slug: str
    title: str
    path: str
    routes: Callable[[Site], APIRouter] | None = None
    scope: str = "read"
    available: Check = always
    nav: bool = True
    order: int = 50  # place in the navigation: overview 10, search 20, users 90


@dataclass(frozen=True)
class Panel:
    """Extra tables on the account and/or contact 360° page (score with reasons, journeys, CX health…)."""

    slug: str
    title: str
    tables: Callable[[Workspace, str, str], Sequence[Table]]  # (ws, subject, subject id) -> tables
    subjects: tuple[str, ...] = ("account", "contact")
    available: Check = always
    place: str = "end"  # "top": right under the profile; "end": after the page's own tables
    template: str = ""  # a template that lays the panel out (gets ``panel``, ``ts``); else its tables in order


@dataclass
class Registry:
    """Pages and panels in the order they were added; availability answers are cached briefly."""

    pages: list[Page] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    _cache: dict[tuple[int, str], tuple[float, bool]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_page(self, page: Page) -> Page:
        """Register a page (its slug must be new)."""
        if any(p.slug == page.slug for p in self.pages):
            raise ValueError(f"a dashboard page {page.slug!r} is already registered")
        self.pages.append(page)
        return page

    def add_panel(self, panel: Panel) -> Panel:
        """Register a 360° panel (its slug must be new)."""
        if any(p.slug == panel.slug for p in self.panels):
            raise ValueError(f"a dashboard panel {panel.slug!r} is already registered")
        self.panels.append(panel)
        return panel

    def is_available(self, ws: Workspace, slug: str, check: Check) -> bool:
        """``check(ws)``, remembered for a few seconds per workspace."""
        key = (id(ws), slug)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
        answer = bool(check(ws))
        with self._lock:
            self._cache[key] = (now + AVAILABILITY_TTL, answer)
        return answer

    def page(self, slug: str) -> Page:
        """The registered page with this slug."""
        return next(p for p in self.pages if p.slug == slug)

    def nav(self, ws: Workspace, scope: str) -> list[Page]:
        """The pages to list in the navigation for someone with ``scope``."""
        return sorted(
            (p for p in self.pages if p.nav and allows(scope, p.scope) and self.is_available(ws, p.slug, p.available)),
            key=lambda p: p.order,
        )

    def panels_for(self, ws: Workspace, subject: str) -> list[Panel]:
        """The available panels of an account or contact page."""
        return [p for p in self.panels if subject in p.subjects and self.is_available(ws, "panel:" + p.slug, p.available)]


registry = Registry()


def panel_tables(ws: Workspace, subject: str, subject_id: str) -> list[tuple[Panel, list[Any]]]:
    """Each available panel of a subject with its tables for one account or contact."""
    return [(p, list(p.tables(ws, subject, subject_id))) for p in registry.panels_for(ws, subject)]
