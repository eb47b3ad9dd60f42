"""The ``/v1`` read routes the dashboard added: search, stage funnel, weekly stage entries, filtered timelines,
buying groups with scores and CX answers, and accounts ranked by score.

Same API-key auth (read scope) and freshness as the other view routes. No
``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query

from polku.web import reads, scored
from polku.workspace import Workspace

Since = Annotated[date | None, Query(description="Only touchpoints on or after this day (YYYY-MM-DD, UTC).")]
Until = Annotated[date | None, Query(description="Only touchpoints on or before this day (YYYY-MM-DD, UTC).")]
Limit = Annotated[int, Query(ge=1, le=reads.MAX_TIMELINE, description="How many of the latest events to list.")]
EventType = Annotated[str | None, Query(alias="type", max_length=64, description="Only this event type.")]


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """Add the routes straight to the app (as its own /v1 routes are), each needing a read key and fresh tables."""
    options: dict[str, Any] = {"tags": ["views"], "dependencies": [Depends(scope("read")), Depends(fresh)]}

    @app.get("/v1/search", **options)
    def get_search(
        q: Annotated[str, Query(max_length=200, description="At least 2 characters of a name, domain, e-mail or id.")],
        limit: Annotated[int, Query(ge=1, le=reads.MAX_SEARCH)] = reads.SEARCH_LIMIT,
    ) -> dict[str, Any]:
        """Accounts by name, domain or id and contacts by name, e-mail, id or CRM id; exact matches first."""
        return reads.search(ws.store, q, limit=limit)

    @app.get("/v1/stages", **options)
    def get_stages() -> dict[str, Any]:
        """Contacts and accounts per lifecycle stage: in it now, and reached it (or a later one) ever."""
        return reads.stage_funnel(ws.store)

    @app.get("/v1/stages/weekly", **options)
    def get_stages_weekly(
        stages: Annotated[str, Query(description="Comma-separated lifecycle stages.")] = ",".join(reads.TREND_STAGES),
        weeks: Annotated[int, Query(ge=1, le=reads.MAX_WEEKS)] = 52,
    ) -> list[dict[str, Any]]:
        """Per week (Monday) and stage, how many contacts and accounts entered the stage; the last ``weeks`` weeks."""
        return reads.weekly_stages(ws.store, tuple(s.strip() for s in stages.split(",") if s.strip()), weeks=weeks)

    @app.get("/v1/accounts/{key}/timeline", **options)
    def get_account_timeline(
        key: str, channel: str | None = None, event_type: EventType = None, since: Since = None, until: Until = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Touchpoints of an account's whole buying group, filtered; with the match count and weekly counts by channel."""
        return reads.timeline(ws.store, "account", key, channel=channel, type=event_type, since=since, until=until,
                              limit=limit)

    @app.get("/v1/contacts/{key}/timeline", **options)
    def get_contact_timeline(
        key: str, channel: str | None = None, event_type: EventType = None, since: Since = None, until: Until = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Touchpoints of one contact, filtered; with the match count and weekly counts by channel."""
        return reads.timeline(ws.store, "contact", key, channel=channel, type=event_type, since=since, until=until,
                              limit=limit)


    @app.get("/v1/accounts/{key}/buying-group", **options)
    def get_buying_group(key: str) -> dict[str, Any]:
        """The account's people with stage, stored score (updated as events arrive) and latest CX answer."""
        return scored.buying_group(ws.store, key)

    @app.get("/v1/leads/accounts", **options)
    def get_ranked_accounts(
        limit: Annotated[int, Query(ge=1, le=scored.MAX_RANKED)] = 50,
        min_score: Annotated[float, Query(ge=0, le=100)] = 0.0,
    ) -> list[dict[str, Any]]:
        """Accounts by stored score, highest first, with buying-group coverage."""
        return scored.accounts_by_score(ws.store, limit=limit, min_score=min_score)
