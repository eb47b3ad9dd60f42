"""The ``/v1/analytics/{name}`` routes: one POST per insight, its body the insight's query model."""

# No `from __future__ import annotations`: FastAPI reads the body model from the annotation.

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from polku.analytics import registry
from polku.workspace import Workspace


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """One route per registered insight, read scope, on refreshed tables."""
    for insight in registry.insights().values():
        _add(app, ws, insight, scope, fresh)


def _add(app: FastAPI, ws: Workspace, insight: registry.Insight, scope: Callable[[str], Any],
         fresh: Callable[..., Any]) -> None:
    model = insight.query

    async def run_insight(query: model) -> dict[str, Any]:  # type: ignore[valid-type]
        result = await run_in_threadpool(lambda: query.run(ws.tables()))
        return registry.payload(result)

    run_insight.__doc__ = insight.summary[:1].upper() + insight.summary[1:] + "."
    app.post(
        f"/v1/analytics/{insight.name}",
        tags=["analytics"],
        name=f"analytics_{insight.name.replace('-', '_')}",
        dependencies=[Depends(scope("read")), Depends(fresh)],
    )(run_insight)
