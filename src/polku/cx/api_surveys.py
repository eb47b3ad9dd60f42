"""HTTP routes of surveys: definitions, invitations and triggers under /v1/cx (API keys), and the
public answer page under /s/{token} (no key: the signed token is the credential).

Thin: each route parses, authorises and calls ``polku.cx.surveys.Surveys``; writes go through
the server's writer thread. No ``from __future__ import annotations``: FastAPI reads the hints.
"""

from collections.abc import Callable
from urllib.parse import parse_qsl
from typing import Annotated, Any, Final, Literal

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from polku.cx.alerts import check_alerts
from polku.cx.surveys import Asked, Occasion, Page, Surveys
from polku.cx.surveys.invites import MAX_INVITES
from polku.errors import PayloadTooLarge
from polku.model import utcnow
from polku.store.writer import Writer
from polku.workspace import Workspace

MAX_FORM_BYTES: Final[int] = 64 * 1024  # an answer form larger than this is refused before it is read
MAX_FIELDS: Final[int] = 200  # form fields parsed at most (a survey has at most 40 questions)


def _writer(request: Request) -> Writer:
    return request.app.state.writer  # type: ignore[no-any-return]


async def _bounded_body(request: Request) -> bytes | None:
    """The request body, or None when it is over MAX_FORM_BYTES (declared or sent): it is not read further."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _html(page: Page) -> HTMLResponse:
    from polku.cx.surveys.page import headers

    return HTMLResponse(page.html, status_code=page.status, headers=headers(page.embed))


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """Install the survey routes; ``scope(name)`` is the API-key check, ``fresh`` brings derived tables up to date."""
    surveys = Surveys(ws)
    configured_base: list[str | None] = []

    def base_url(request: Request) -> str:
        """nurture.yaml's tracking_url when set, else the address this request came to."""
        if not configured_base:
            from polku.nurture.loader import load_policy

            configured_base.append(load_policy(ws.home, []).tracking_url)
        return (configured_base[0] or str(request.base_url)).rstrip("/")

    @app.get("/v1/cx/surveys", tags=["cx"], dependencies=[Depends(scope("read"))])
    def list_surveys() -> list[dict[str, Any]]:
        """Every survey (from surveys/*.yaml) with its invitation and answer counts."""
        return surveys.summaries()

    @app.get("/v1/cx/surveys/{survey_id}", tags=["cx"], dependencies=[Depends(scope("read"))])
    def get_survey(survey_id: str) -> dict[str, Any]:
        """One survey: definition, invitations, answers, response rate, by channel and language."""
        return surveys.detail(survey_id)

    @app.post("/v1/cx/surveys/{survey_id}/invites", tags=["cx"], status_code=201,
              dependencies=[Depends(scope("write")), Depends(fresh)])
    async def invite(
        request: Request, survey_id: str,
        contacts: Annotated[list[str], Body(embed=True, min_length=1, max_length=MAX_INVITES,
                                            description="contact ids, e-mails, CRM ids or anonymous ids")],
        channel: Annotated[Literal["email", "link", "portal"], Body(embed=True)] = "link",
        language: Annotated[str | None, Body(embed=True, pattern=r"^[a-z]{2,3}$")] = None,
        trigger_event_id: Annotated[str | None, Body(embed=True, max_length=200)] = None,
    ) -> dict[str, Any]:
        """Invite contacts to a survey (all or nothing); answers each invitation's signed link."""
        occasion = Occasion(channel=channel, language=language, trigger_event_id=trigger_event_id)
        writer = _writer(request)
        made = await run_in_threadpool(
            surveys.invite, survey_id, contacts, occasion, base_url(request), run=lambda job: writer.submit(job)
        )
        return {"survey": survey_id, "invites": made}

    @app.get("/v1/cx/contacts/{key}/invites", tags=["cx"], dependencies=[Depends(scope("read")), Depends(fresh)])
    def contact_invites(request: Request, key: str, survey: str | None = None) -> dict[str, Any]:
        """A contact's open invitations with links (``embed_url`` for a portal's iframe)."""
        return surveys.open_invites(key, base_url(request), survey_id=survey)

    @app.post("/v1/cx/surveys/tick", tags=["cx"], dependencies=[Depends(scope("admin"))])
    async def tick(request: Request) -> dict[str, Any]:
        """Run the survey triggers and the CX alert check once (what `polku cx tick` does, for a running server)."""
        writer = _writer(request)
        result = await run_in_threadpool(surveys.tick, run=lambda job: writer.submit(job, group=False))
        alerts = await run_in_threadpool(writer.submit, lambda: check_alerts(ws), group=False)
        return result.as_dict() | {"alerts": alerts}

    # ---- the answer page (public) ----------------------------------------------------------------

    def asked(request: Request, lang: str | None, embed: bool) -> Asked:
        """What the browser asked for: ?lang=, its Accept-Language, ?embed=."""
        return Asked(lang=lang, accept_language=request.headers.get("accept-language"), embed=embed)

    @app.get("/s/{token}", tags=["surveys"], response_class=HTMLResponse)
    async def survey_page(
        request: Request, token: str,
        lang: Annotated[str | None, Query(max_length=35)] = None,
        embed: Annotated[bool, Query(description="1: without the page frame, for a portal's iframe")] = False,
    ) -> HTMLResponse:
        """The survey of a signed link (no key: the token is the credential); 400/404/409/410 pages say why not."""
        # in the event loop: the page reads an in-memory copy (a primary-key lookup on a miss), cheaper than a thread hop
        return _html(surveys.page(token, asked(request, lang, embed)))

    @app.post("/s/{token}", tags=["surveys"], response_class=HTMLResponse)
    async def survey_answer(
        request: Request, token: str,
        lang: Annotated[str | None, Query(max_length=35)] = None,
        embed: Annotated[bool, Query()] = False,
    ) -> HTMLResponse:
        """Store an answer (a form post): one survey_answered event; 422 shows the form again with the problems."""
        how = asked(request, lang, embed)
        body = await _bounded_body(request)
        try:
            if body is None:
                raise ValueError("over the size limit")
            fields = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS))
        except ValueError:
            return _html(await run_in_threadpool(surveys.refuse, PayloadTooLarge("the answers are too long"), token, how))
        writer = _writer(request)
        page = await run_in_threadpool(surveys.answer, token, fields, how, run=lambda job: writer.submit(job),
                                       now=utcnow())
        return _html(page)

    # The public page is the busiest route: match it first. Routing tries routes in order, and
    # trying the ~100 before it cost about as much as the page itself (no other route starts with /s/).
    public = [r for r in app.router.routes if getattr(r, "path", "").startswith("/s/")]
    app.router.routes[:] = public + [r for r in app.router.routes if r not in public]
