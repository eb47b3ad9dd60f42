"""HTTP routes of nurture: journeys, enrolments, reports, the outbox (under /v1, with API keys) and the
tracking links in e-mails (under /t, signed tokens instead of keys).

Thin: every route parses, authorises and calls the library; writes go through the
server's writer thread.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from polku.errors import InvalidInput, NotFound, PolkuError
from polku.nurture import ops, tokens
from polku.nurture.report import journey_report
from polku.nurture.scheduler import Scheduler, writer_runner
from polku.nurture.views import enrolments_for_contact, lists_for_contact, requests_for_contact
from polku.store import nurture as sql

if TYPE_CHECKING:
    from polku.store.writer import Writer
    from polku.workspace import Workspace

PIXEL: Final[bytes] = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_JOURNEY_BYTES: Final[int] = 256 * 1024
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; line-height: 1.5">
<h1>{title}</h1>{body}</body></html>"""

Scope = Callable[[str], Callable[[Request], str]]


def _writer(request: Request) -> Writer:
    return request.app.state.writer  # type: ignore[no-any-return]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def nurture_router(ws: Workspace, scope: Scope) -> APIRouter:
    """The nurture routes over one workspace; ``scope(name)`` is the app's API-key check."""
    router = APIRouter()

    def run_once(request: Request, deliver: bool) -> dict[str, Any]:
        """One round by the server's scheduler (started by --nurture), or by one made for this request."""
        running: Scheduler | None = getattr(request.app.state, "nurture", None)
        if running is not None:
            return running.once(deliver=deliver)
        once = Scheduler(ws, run=writer_runner(_writer(request)))
        try:
            return once.once(deliver=deliver)
        finally:
            once.deliverer.close()

    # ---- journeys (/v1) ----------------------------------------------------------------------------

    @router.get("/v1/journeys", tags=["nurture"], dependencies=[Depends(scope("read"))])
    def list_journeys() -> list[dict[str, Any]]:
        """Every journey (from journeys/*.yaml, and removed ones that ran), with enrolment counts."""
        return ops.list_journeys(ws)

    @router.get("/v1/journeys/{journey_id}", tags=["nurture"], dependencies=[Depends(scope("read"))])
    def get_journey(journey_id: str) -> dict[str, Any]:
        """One journey's definition and counts."""
        return ops.journey_detail(ws, journey_id)

    @router.put("/v1/journeys/{journey_id}", tags=["nurture"], dependencies=[Depends(scope("admin"))])
    async def put_journey(request: Request, journey_id: str) -> dict[str, Any]:
        """Create or replace a journey from a YAML or JSON body; it is checked like a file (422 names line and problem)."""
        body = await request.body()
        if len(body) > MAX_JOURNEY_BYTES:
            raise InvalidInput(f"a journey may be at most {MAX_JOURNEY_BYTES // 1024} KiB")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the body must be UTF-8 text (YAML or JSON)") from exc
        journey = await run_in_threadpool(_writer(request).submit, lambda: ops.put_journey(ws, journey_id, text), group=False)
        return {"id": journey.id, "status": journey.status, "file": f"journeys/{journey.id}.yaml",
                "definition": journey.model_dump(mode="json", by_alias=True, exclude_none=True)}

    @router.post("/v1/journeys/{journey_id}/pause", tags=["nurture"], dependencies=[Depends(scope("write"))])
    async def pause(request: Request, journey_id: str) -> dict[str, Any]:
        """Pause a journey (its file gets `status: paused`): from the next tick no one enters and no step runs."""
        return await run_in_threadpool(
            _writer(request).submit, lambda: ops.set_journey_status(ws.home, journey_id, "paused"), group=False
        )

    @router.post("/v1/journeys/{journey_id}/resume", tags=["nurture"], dependencies=[Depends(scope("write"))])
    async def resume(request: Request, journey_id: str) -> dict[str, Any]:
        """Resume a paused journey (`status: active`): the next tick enrols and moves contacts again, catching up."""
        return await run_in_threadpool(
            _writer(request).submit, lambda: ops.set_journey_status(ws.home, journey_id, "active"), group=False
        )

    @router.post("/v1/journeys/{journey_id}/enrolments", tags=["nurture"], status_code=202,
                 dependencies=[Depends(scope("write"))])
    async def enrol(
        request: Request, journey_id: str,
        contacts: Annotated[list[str], Body(embed=True, min_length=1, max_length=ops.MAX_ENROL)],
        source: Annotated[str, Body(embed=True, max_length=200)] = "api",
    ) -> dict[str, Any]:
        """Ask for contacts (ids, e-mails, CRM ids) to enter a journey; the next tick decides, by the journey's rules."""
        queued = await run_in_threadpool(
            _writer(request).submit, lambda: ops.request_enrolment(ws, journey_id, contacts, source=source), group=False
        )
        return {"queued": len(queued), "requests": queued}

    @router.get("/v1/journeys/{journey_id}/report", tags=["nurture"], dependencies=[Depends(scope("read"))])
    def report(journey_id: str, confidence: Annotated[float, Query(gt=0.5, lt=1.0)] = 0.95) -> dict[str, Any]:
        """Enrolled, active, completed, goal reached, per step sent/opened/clicked, and the lift over the holdout."""
        return journey_report(ws.store, journey_id, confidence=confidence)

    @router.get("/v1/contacts/{key}/journeys", tags=["nurture"], dependencies=[Depends(scope("read"))])
    async def contact_journeys(request: Request, key: str) -> dict[str, Any]:
        """A contact's enrolments with step history and messages, its enrolment requests, and the segments it is in."""
        from polku import profiles

        if not ws.is_fresh():
            await run_in_threadpool(_writer(request).submit, ws.refresh, group=False)
        cid = profiles.find_contact_id(ws.store, key)
        return {"contact_id": cid, "enrolments": enrolments_for_contact(ws.store, cid),
                "requests": requests_for_contact(ws.store, cid), "lists": lists_for_contact(ws.store, cid)}

    # ---- running and the outbox (/v1/nurture) ------------------------------------------------------

    @router.post("/v1/nurture/tick", tags=["nurture"], dependencies=[Depends(scope("admin"))])
    async def tick(request: Request, deliver: bool = True) -> dict[str, Any]:
        """Advance every journey once and deliver what is due (what `polku nurture tick` does, for a running server)."""
        return await run_in_threadpool(run_once, request, deliver)

    @router.get("/v1/nurture/outbox", tags=["nurture"], dependencies=[Depends(scope("read"))])
    def outbox(
        status: str | None = None, journey: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Outbox messages (newest first) and the count of each status; `status=in_doubt` lists those to review."""
        return {"counts": sql.outbox_counts(ws.store), "messages": sql.outbox(ws.store, status=status, journey_id=journey, limit=limit)}

    @router.post("/v1/nurture/outbox/{message_id}/resolve", tags=["nurture"], dependencies=[Depends(scope("admin"))])
    async def resolve(
        request: Request, message_id: str,
        action: Annotated[str, Body(embed=True, description="sent, resend or drop")],
        note: Annotated[str | None, Body(embed=True, max_length=500)] = None,
    ) -> dict[str, Any]:
        """Settle a message held in doubt after a crash: it was `sent`, `resend` it, or `drop` it."""
        return await run_in_threadpool(_writer(request).submit, lambda: ops.resolve_message(ws, message_id, action, note), group=False)

    # ---- tracking links (/t, no API key: the token is the credential) ------------------------------

    def claim(token: str, kind: str) -> tuple[tokens.Claim, dict[str, Any]]:
        found = tokens.read(ws.store.meta(tokens.SECRET_KEY), token, kind)
        row = sql.outbox_row(ws.store, found.message_id)
        if row is None:
            raise NotFound("this link belongs to a message that no longer exists")
        return found, row

    async def record(request: Request, row: dict[str, Any], type_: str, event_id: str, extra: dict[str, Any]) -> None:
        event = {
            "event_id": event_id, "type": type_, "channel": "email", "email": row["recipient"],
            "properties": {"message_id": row["message_id"], "journey": row["journey_id"], "step": row["step_id"], **extra},
        }
        result = await run_in_threadpool(_writer(request).submit, lambda: ws.ingest([event], "nurture-tracking"))
        if result.rejected:
            raise InvalidInput("the event could not be recorded: " + str(result.rejected[0]["errors"]))

    @router.get("/t/open/{token}", tags=["tracking"], include_in_schema=True)
    async def opened(request: Request, token: str) -> Response:
        """The 1x1 pixel of an e-mail; its first load records `email_open`."""
        _, row = claim(token, "o")
        await record(request, row, "email_open", f"open:{row['message_id']}", {})
        return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store, private"})

    @router.get("/t/click/{token}", tags=["tracking"])
    async def clicked(request: Request, token: str) -> RedirectResponse:
        """A tracked link: records `email_click`, then redirects to the link's own address (signed, so nowhere else)."""
        found, row = claim(token, "c")
        url = found.url or ""
        if not url.startswith(("http://", "https://")):
            raise InvalidInput("the link's target is not a web address")
        digest = hashlib.sha1(url.encode()).hexdigest()[:12]
        await record(request, row, "email_click", f"click:{row['message_id']}:{digest}", {"url": url})
        return RedirectResponse(url, status_code=302)

    @router.get("/t/unsubscribe/{token}", tags=["tracking"], response_class=HTMLResponse)
    def unsubscribe_page(token: str) -> HTMLResponse:
        """The unsubscribe page: a button to confirm (a GET alone changes nothing, so link scanners cannot unsubscribe)."""
        try:
            _, row = claim(token, "u")
        except PolkuError as exc:
            return _page("This link does not work", f"<p>{html.escape(exc.message)}</p>", exc.status)
        return _page(
            "Unsubscribe",
            f"<p>Stop marketing e-mail to <b>{html.escape(row['recipient'] or '')}</b>?</p>"
            '<form method="post"><button type="submit">Unsubscribe</button></form>',
        )

    @router.post("/t/unsubscribe/{token}", tags=["tracking"], response_class=HTMLResponse)
    async def unsubscribe(request: Request, token: str) -> HTMLResponse:
        """Records `unsubscribe` (the page's button, or a mail client's one-click POST, RFC 8058)."""
        try:
            _, row = claim(token, "u")
        except PolkuError as exc:
            return _page("This link does not work", f"<p>{html.escape(exc.message)}</p>", exc.status)
        await record(request, row, "unsubscribe", f"unsubscribe:{row['message_id']}",
                     {"via": "one-click" if b"One-Click" in await request.body() else "page"})
        return _page("You are unsubscribed",
                     f"<p>{html.escape(row['recipient'] or '')} will get no more marketing e-mail from us.</p>")

    return router
