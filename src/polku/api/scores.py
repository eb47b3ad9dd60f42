"""Score routes: one contact's or account's score with reasons, and the ranked list of leads."""

# No `from __future__ import annotations`: FastAPI reads the parameter types from the annotations.

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.concurrency import run_in_threadpool

from polku.model import LifecycleStage
from polku.workspace import Workspace


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """GET /v1/contacts/{key}/score, /v1/accounts/{key}/score and /v1/leads, read scope."""
    read = [Depends(scope("read")), Depends(fresh)]

    @app.get("/v1/contacts/{key}/score", tags=["scores"], dependencies=read)
    async def contact_score(key: str) -> dict[str, Any]:
        """The contact's rule score now (fit, engagement, grade) with its reasons, and the model's probability."""
        return await run_in_threadpool(ws.leads.contact, key)

    @app.get("/v1/accounts/{key}/score", tags=["scores"], dependencies=read)
    async def account_score(key: str) -> dict[str, Any]:
        """The account's score (rolled up at the latest refresh): buying-group roll-up, coverage and reasons."""
        return await run_in_threadpool(ws.leads.account, key)

    @app.get("/v1/leads", tags=["scores"], dependencies=read)
    async def leads(
        min_score: Annotated[float, Query(ge=0, le=100)] = 0.0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        stage: LifecycleStage | None = None,
    ) -> list[dict[str, Any]]:
        """Contacts ranked by their stored score (updated as events arrive), at least ``min_score``, optionally in one stage."""
        return await run_in_threadpool(
            lambda: ws.leads.ranked(min_score=min_score, limit=limit, stage=stage.value if stage else None)
        )
