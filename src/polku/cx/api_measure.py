"""CX measurement routes: scores, targets, account health, a contact's answers, risks and alerts."""

# No `from __future__ import annotations`: FastAPI reads the parameter types from the annotations.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from polku.cx import alerts as cx_alerts
from polku.cx import measure_ops as ops
from polku.workspace import Workspace


class AlertAction(BaseModel):
    """Acknowledge or close an alert (or just add a note), with a note saying what was done."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["ack", "close", "note"]
    note: str | None = Field(default=None, max_length=4000)
    by: str | None = Field(default=None, max_length=200, description="who did it, e.g. an e-mail")


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """GET /v1/cx/scores, /targets, /accounts/{key}/health, /contacts/{key}/answers, /risks, /alerts; POST /alerts/{id}."""
    read = [Depends(scope("read")), Depends(fresh)]

    @app.get("/v1/cx/scores", tags=["cx"], dependencies=read)
    async def cx_scores(
        by: Annotated[Literal["role", "org_level", "phase", "survey", "language", "trigger_type"] | None, Query()] = None,
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        """NPS, CSAT and CES with confidence intervals and n, overall or by role, org level, phase or survey."""
        return await run_in_threadpool(lambda: ops.scores(ws, by=by, start=start, end=end))

    @app.get("/v1/cx/targets", tags=["cx"], dependencies=read)
    async def cx_targets(
        as_of: datetime | None = None, start: Annotated[datetime | None, Query(alias="from")] = None,
    ) -> dict[str, Any]:
        """Each target experience: measured value, gap, trend, interval, n and the not-enough-data flag."""
        return await run_in_threadpool(lambda: ops.targets(ws, as_of=as_of, start=start))

    @app.get("/v1/cx/accounts/{key}/health", tags=["cx"], dependencies=read)
    async def cx_account_health(key: str, as_of: datetime | None = None) -> dict[str, Any]:
        """One account's CX health: score, components, reasons and touchpoint network by org level and role."""
        return await run_in_threadpool(lambda: ops.health(ws, key, as_of=as_of))

    @app.get("/v1/cx/contacts/{key}/answers", tags=["cx"], dependencies=read)
    async def cx_contact_answers(key: str) -> dict[str, Any]:
        """A contact's survey answers, newest first (one row per answer and measure)."""
        return await run_in_threadpool(ops.contact_answers, ws, key)

    @app.get("/v1/cx/risks", tags=["cx"], dependencies=read)
    async def cx_risks(
        as_of: datetime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[dict[str, Any]]:
        """Accounts at risk (low or falling health), worst first, with reasons."""
        return await run_in_threadpool(lambda: ops.risks(ws, as_of=as_of, limit=limit))

    @app.get("/v1/cx/alerts", tags=["cx"], dependencies=read)
    async def cx_alert_list(
        status: Literal["open", "acknowledged", "closed"] | None = None,
        account: str | None = None, owner: str | None = None,
        kind: Literal["detractor", "health_drop"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """CX alerts to account owners, newest first, each with its log of actions."""
        return await run_in_threadpool(
            lambda: cx_alerts.list_alerts(ws, status=status, account=account, owner=owner, kind=kind, limit=limit))

    @app.post("/v1/cx/alerts/{alert_id}", tags=["cx"], dependencies=[Depends(scope("write"))])
    async def cx_alert_update(request: Request, alert_id: str, body: AlertAction) -> dict[str, Any]:
        """Acknowledge or close an alert (or add a note); the action joins the alert's log."""
        writer = request.app.state.writer
        return await run_in_threadpool(  # type: ignore[no-any-return]
            writer.submit, lambda: cx_alerts.update_alert(ws, alert_id, body.action, note=body.note, by=body.by),
            group=False)
