"""The FastAPI application: ingestion, identify, 360° views and statistics.

Thin: every route parses, authorises and calls the Workspace. Writes go through the
workspace's single writer thread; reads use their own cursors.
"""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from polku import __version__, profiles, web
from polku.api import analytics, errors, openapi, scores
from polku.api.responses import JSON
from polku.cx import api as cx_api
from polku.errors import InvalidInput, PayloadTooLarge
from polku.model import LeadDecisionIn
from polku.nurture.api import nurture_router
from polku.nurture.scheduler import start_in_server
from polku.store.writer import Writer
from polku.workspace import BatchResult, Workspace

MAX_BODY = 16 * 1024 * 1024
_AUTH_TTL = 60.0

def create_app(ws: Workspace, *, refresh_seconds: float = 2.0, nurture: bool = False, nurture_interval: float = 30.0) -> FastAPI:
    """The API over one open workspace; the app owns the workspace's writer thread."""
    auth_cache: dict[tuple[str, str], float] = {}

    def refresh_if_stale() -> None:
        if not ws.is_fresh():
            ws.refresh()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.writer = Writer(ws.store, idle_job=refresh_if_stale, idle_seconds=refresh_seconds)
        # with nurture, the journeys' scheduler runs in the background, writing through the writer
        app.state.nurture = start_in_server(ws, app.state.writer, interval=nurture_interval) if nurture else None
        yield
        if app.state.nurture is not None:
            app.state.nurture.stop()
        app.state.writer.close()

    app = FastAPI(
        title="Polku",
        version=__version__,
        summary="B2B customer-experience management and lead nurturing",
        default_response_class=JSON,
        lifespan=lifespan,
    )
    errors.install(app)
    openapi.install(app)

    def scope(needed: str) -> Callable[[Request], str]:
        def check(request: Request) -> str:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key")
            key = (token or "", needed)
            if auth_cache.get(key, 0.0) > time.monotonic():
                return needed
            ws.authorize(token, needed)
            auth_cache[key] = time.monotonic() + _AUTH_TTL
            return needed

        return check

    def store_api(batches: list[Any]) -> list[BatchResult]:
        return ws.store_batches(batches, "api")

    def writer(request: Request) -> Writer:
        return request.app.state.writer  # type: ignore[no-any-return]

    async def fresh(request: Request) -> None:
        if not ws.is_fresh():
            await run_in_threadpool(writer(request).submit, ws.refresh, group=False)

    async def json_items(request: Request, key: str) -> list[Any]:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise PayloadTooLarge(f"the request body is over {MAX_BODY // (1024 * 1024)} MiB")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"the request body is over {MAX_BODY // (1024 * 1024)} MiB")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc.args[0]}") from exc
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise InvalidInput(f"the body must be a JSON list of items or an object with a {key!r} list")
        if not data:
            raise InvalidInput("the batch is empty")
        return data

    def batch_response(result: BatchResult) -> JSON:
        body = {
            "accepted": len(result.accepted),
            "duplicates": len(result.duplicates),
            "rejected": len(result.rejected),
            "items": {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected},
        }
        status = 422 if result.rejected and not (result.accepted or result.duplicates) else 200
        if status == 422:
            body = {**errors.error_body("invalid_input", "no item of the batch was valid", result.rejected), **body}
        return JSON(body, status_code=status)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness; needs no key, so it tells nothing about the workspace's data."""
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def landing() -> RedirectResponse:
        """The dashboard (which sends a visitor who is not signed in to the sign-in page)."""
        return RedirectResponse("/overview", status_code=307)

    @app.post("/v1/events", tags=["collect"], dependencies=[Depends(scope("write"))])
    async def post_events(request: Request) -> JSON:
        """Store a batch of touchpoints (at most 5,000). Each item is accepted, a duplicate, or rejected with reasons."""
        items = await json_items(request, "events")
        prepared = await run_in_threadpool(ws.prepare_batch, items)
        result = await run_in_threadpool(writer(request).submit_combined, prepared, store_api)
        return batch_response(result)

    @app.post("/v1/identify", tags=["collect"], dependencies=[Depends(scope("write"))])
    async def post_identify(request: Request) -> JSON:
        """Link an anonymous id to an e-mail or CRM id, with contact traits and account traits."""
        items = await json_items(request, "identifies")
        prepared = await run_in_threadpool(lambda: ws.prepare_batch(items, identify=True))
        result = await run_in_threadpool(writer(request).submit_combined, prepared, store_api)
        return batch_response(result)

    @app.get("/v1/contacts/{key}", tags=["views"], dependencies=[Depends(scope("read")), Depends(fresh)])
    def get_contact(
        key: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """The 360° view of a contact, by contact id, e-mail, CRM id or anonymous id."""
        return profiles.contact_view(ws.store, key, limit=limit, channel=channel)

    @app.get("/v1/accounts/{key}", tags=["views"], dependencies=[Depends(scope("read")), Depends(fresh)])
    def get_account(
        key: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """The 360° view of an account, by id or domain: buying group, timeline, stages, channel mix."""
        return profiles.account_view(ws.store, key, limit=limit, channel=channel)

    @app.get("/v1/stats", tags=["views"], dependencies=[Depends(scope("read")), Depends(fresh)])
    def get_stats() -> dict[str, Any]:
        """Counts of accounts, contacts and events; contacts and accounts by lifecycle stage."""
        return profiles.stats(ws.store)

    @app.get("/v1/merges", tags=["identity"], dependencies=[Depends(scope("read")), Depends(fresh)])
    def get_merges(contact: str | None = None) -> list[dict[str, Any]]:
        """Recorded merges of contacts, with their causes."""
        return profiles.merges(ws.store, contact)

    @app.get("/v1/keys", tags=["keys"], dependencies=[Depends(scope("admin"))])
    def get_keys() -> list[dict[str, Any]]:
        """API keys with their scopes (never their secrets)."""
        return ws.list_keys()

    @app.post("/v1/keys", tags=["keys"], status_code=201, dependencies=[Depends(scope("admin"))])
    async def create_key(
        request: Request,
        key_scope: Annotated[str, Body(alias="scope", embed=True)],
        name: Annotated[str | None, Body(embed=True)] = None,
    ) -> dict[str, Any]:
        """Create a key (scope read, write or admin). Its token is in this answer only."""
        token = await run_in_threadpool(writer(request).submit, lambda: ws.create_key(key_scope, name))
        return {"key_id": token.split("_")[1], "scope": key_scope, "name": name, "token": token}

    @app.delete("/v1/keys/{key_id}", tags=["keys"], status_code=204, dependencies=[Depends(scope("admin"))])
    async def revoke_key(request: Request, key_id: str) -> None:
        """Revoke a key; it is refused from the next request on."""
        await run_in_threadpool(writer(request).submit, lambda: ws.revoke_key(key_id))
        for cached in [k for k in auth_cache if k[0].startswith(f"pk_{key_id}_")]:
            del auth_cache[cached]

    @app.post("/v1/contacts/{key}/lead", tags=["views"], dependencies=[Depends(scope("write"))])
    async def decide_lead(request: Request, key: str, decision: LeadDecisionIn) -> dict[str, Any]:
        """Sales accepts a lead (it becomes an opportunity) or rejects it (back to prospect)."""
        event_id = await run_in_threadpool(
            writer(request).submit,
            lambda: ws.decide_lead(key, decision.decision, reason=decision.reason, by=decision.by),
            group=False,
        )
        return {"event_id": event_id, "decision": decision.decision}

    @app.post("/v1/merges/{merge_id}/undo", tags=["identity"], dependencies=[Depends(scope("admin"))])
    async def undo_merge(request: Request, merge_id: str, reason: Annotated[str, Body(embed=True)]) -> dict[str, Any]:
        """Undo a merge: both contacts come back with their own events."""
        a, b = await run_in_threadpool(writer(request).submit, lambda: ws.unmerge(merge_id, reason=reason), group=False)
        return {"contacts": [a, b]}

    analytics.add_routes(app, ws, scope, fresh)
    scores.add_routes(app, ws, scope, fresh)
    web.install(app, ws, scope, fresh)
    app.include_router(nurture_router(ws, scope))
    cx_api.add_routes(app, ws, scope, fresh)
    return app
