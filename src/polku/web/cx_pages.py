"""The CX pages: target experiences and scores (/cx), surveys (/cx/surveys), accounts at risk and alerts
(/cx/risks, /cx/alerts/{id}), acknowledging and closing an alert (marketer or admin).

Handlers call what the ``/v1/cx`` routes call (named in each docstring; the shared, cached reads
are in ``polku.web.cx_data``) and arrange the answers with ``polku.web.cx_tables``.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from polku.cx.config import CxConfig
from polku.errors import ConfigError, InvalidInput, NotFound
from polku.web import cx_data, cx_tables, users
from polku.web.pages import Page, Registry, has_rows, registry
from polku.web.site import Site
from polku.web.tables import Table, csv_response, pick
from polku.workspace import Workspace

BREAKDOWNS: Final = (("org_level", "Organisational level"), ("role", "Role"), ("phase", "Journey phase"),
                     ("survey", "Survey"), ("language", "Language"), ("trigger_type", "Triggering touchpoint"))
ALERT_STATUSES: Final = ("open", "acknowledged", "closed")
ALERT_ACTIONS: Final = {"ack": "acknowledged", "close": "closed", "note": "noted"}
COMMENTS: Final = 50
ALERTS_SHOWN: Final = 200
RISKS_SHOWN: Final = 100


# ---- when each page exists ----------------------------------------------------------------
def has_cx(ws: Workspace) -> bool:
    """The CX page (the CX entry of the navigation): once any CX page has something to show, or a cx.yaml exists."""
    from polku.web.cx_feedback import PAGE as FEEDBACK

    return (cx_data.has_answers(ws) or cx_data.has_config(ws) or has_surveys(ws) or has_risks(ws)
            or FEEDBACK.available(ws))


def has_surveys(ws: Workspace) -> bool:
    """The surveys page: once a survey is defined (surveys/*.yaml), invited to or answered."""
    from polku.cx.surveys.loader import SURVEYS_DIR

    folder = ws.home / SURVEYS_DIR
    if folder.is_dir() and any(p.suffix in (".yaml", ".yml") and p.is_file() for p in folder.iterdir()):
        return True
    return has_rows(ws, "survey_invites") or cx_data.has_answers(ws)


def has_risks(ws: Workspace) -> bool:
    """The risks page: once there are answers to judge health by, or alerts."""
    return cx_data.has_answers(ws) or has_rows(ws, "cx_alerts")


# ---- form values ----------------------------------------------------------------------------
def end_of_day(value: str | None) -> datetime | None:
    """The end of a day given as YYYY-MM-DD (UTC midnight after it); empty: None (now)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"as_of must be a day as YYYY-MM-DD, got {value!r}") from exc
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def cx_pages(site: Site, user: users.SignedIn) -> list[Page]:
    """The CX pages this user may open and that exist: the tabs of the CX pages (only CX is in the main navigation)."""
    return sorted((p for p in registry.pages if (p.slug == "cx" or p.slug.startswith("cx_")) and user.may(p.scope)
                   and registry.is_available(site.ws, p.slug, p.available)), key=lambda p: p.order)


def _config(ws: Workspace) -> tuple[CxConfig, str | None]:
    """cx.yaml, or the defaults and the problem when the file is broken (the page still shows the scores)."""
    try:
        return cx_data.config(ws), None
    except ConfigError as exc:
        return CxConfig(), exc.message


def _names(ws: Workspace, table: str, key: str, ids: list[str]) -> dict[str, str | None]:
    """Display names of contacts or accounts by id (name, else e-mail or domain)."""
    if not ids:
        return {}
    other = "email" if table == "contacts" else "domain"
    rows = ws.store.query(
        f"SELECT {key} AS id, coalesce(name, {other}) AS name FROM {table} WHERE {key} IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(set(ids))])
    return {r["id"]: r["name"] for r in rows}


def _respond(site: Site, request: Request, export: str | None, tables: list[Table], filename: str, template: str,
             **context: Any) -> Response:
    """The page, or one of its tables as CSV with ``?export=name``."""
    if export:
        return csv_response(pick(tables, export), f"{filename}-{export}")
    return site.render(request, template, tables={t.name: t for t in tables}, **context)


# ---- routes ---------------------------------------------------------------------------------
def targets_routes(site: Site) -> APIRouter:
    """GET /cx: target experiences measured, and NPS, CSAT and CES overall and by a breakdown."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])
    reader = site.needs("read")

    @api.get("/cx")
    def cx_overview(
        request: Request,
        user: Annotated[users.SignedIn, Depends(reader)],
        by: Annotated[str, Query(max_length=32)] = "org_level",
        as_of: Annotated[str | None, Query(max_length=10)] = None,
        export: str | None = None,
    ) -> Response:
        """Targets (GET /v1/cx/targets) and scores overall and by ``by`` (GET /v1/cx/scores?by=)."""
        if by not in dict(BREAKDOWNS):
            raise InvalidInput(f"by must be one of {', '.join(dict(BREAKDOWNS))}, got {by!r}")
        when = end_of_day(as_of)
        cfg, problem = _config(site.ws)
        result = cx_data.targets(site.ws, cfg, when) if problem is None else {"as_of": when, "targets": []}
        overall = cx_data.scores(site.ws, cfg, None, when)
        grouped = cx_data.scores(site.ws, cfg, by, when)
        score_table = cx_tables.scores_table(overall, grouped)
        tables = [cx_tables.targets_table(result), score_table, cx_tables.target_months_table(result)]
        headline = {r["measure_id"]: r for r in score_table.rows if r["breakdown"] == "All"}
        return _respond(site, request, export, tables, "cx", "cx.html", title="CX targets and scores",
                        cx_pages=cx_pages(site, user), problem=problem, result=result, overall=overall,
                        headline=headline, target_charts=cx_tables.target_charts(result),
                        score_charts=cx_tables.score_charts(score_table.rows), by=by, breakdowns=BREAKDOWNS,
                        as_of_day=as_of or "", has_file=cx_data.has_config(site.ws))

    return api


def surveys_routes(site: Site) -> APIRouter:
    """GET /cx/surveys and /cx/surveys/{id}: invitations, answers, response rate, scores and comments."""
    from polku.cx.surveys import Surveys

    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])
    reader = site.needs("read")
    held: list[Surveys] = []

    def surveys() -> Surveys:
        if not held:
            held.append(Surveys(site.ws))
        return held[0]

    def summaries() -> tuple[list[dict[str, Any]], str | None]:
        """GET /v1/cx/surveys, and what is wrong with the survey files now, if anything."""
        s = surveys()
        try:
            found = s.summaries()
        except ConfigError as exc:
            return [], exc.message
        return found, s.catalog.error.message if s.catalog.error else None

    @api.get("/cx/surveys")
    def survey_list(request: Request, user: Annotated[users.SignedIn, Depends(reader)],
                    export: str | None = None) -> Response:
        """Every survey with invitations, answers and response rate (GET /v1/cx/surveys)."""
        found, problem = summaries()
        seen = cx_tables.answered_surveys(cx_data.answers(site.ws))
        tables = [cx_tables.surveys_table(found, seen)]
        return _respond(site, request, export, tables, "surveys", "cx_surveys.html", title="Surveys",
                        cx_pages=cx_pages(site, user), problem=problem)

    @api.get("/cx/surveys/{survey_id}")
    def survey_page(request: Request, survey_id: str, user: Annotated[users.SignedIn, Depends(reader)],
                    export: str | None = None) -> Response:
        """One survey: invitations and response rate (GET /v1/cx/surveys/{id}), scores, distribution, comments."""
        answers = cx_data.answers(site.ws)
        mine = answers[answers["survey"] == survey_id]
        seen = cx_tables.answered_surveys(mine).get(survey_id)
        try:
            detail: dict[str, Any] | None = surveys().detail(survey_id)
        except NotFound:
            if seen is None:
                raise
            detail = None
        cfg, _ = _config(site.ws)
        scored = [r for r in cx_data.scores(site.ws, cfg, "survey")["rows"] if r["survey"] == survey_id]
        summary = {"rows": scored or [{}], "answers": seen["responses"] if seen else 0, "min_n": cfg.min_n,
                   "confidence": cfg.confidence}
        dist = cx_tables.distribution_rows(mine)
        names = _names(site.ws, "contacts", "contact_id", mine["contact_id"].dropna().astype(str).tolist())
        comments = cx_tables.comment_rows(mine, names, COMMENTS)
        tables = [cx_tables.survey_facts(detail, survey_id, seen), cx_tables.channels_table(detail),
                  cx_tables.scores_table(summary, None), cx_tables.distribution_table(dist),
                  cx_tables.comments_table(comments, COMMENTS)]
        title = (detail or {}).get("title") or survey_id
        return _respond(site, request, export, tables, f"survey-{survey_id}", "cx_survey.html", title=title,
                        survey_id=survey_id, cx_pages=cx_pages(site, user), detail=detail,
                        charts=cx_tables.distribution_charts(dist))

    return api


def risks_routes(site: Site) -> APIRouter:
    """GET /cx/risks and /cx/alerts/{id}; POST /cx/alerts/{id} (marketer or admin) acknowledges, closes or notes."""
    from polku.cx import alerts as cx_alerts
    from polku.cx.risk import accounts_at_risk
    from polku.store import cx_alerts as stored_alerts

    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])
    reader, writer = site.needs("read"), site.needs("write")

    @api.get("/cx/risks")
    def risks(
        request: Request,
        user: Annotated[users.SignedIn, Depends(reader)],
        status: Annotated[str, Query(max_length=16)] = "",
        as_of: Annotated[str | None, Query(max_length=10)] = None,
        export: str | None = None,
    ) -> Response:
        """Accounts at risk with reasons (GET /v1/cx/risks) and the alerts (GET /v1/cx/alerts?status=)."""
        if status and status not in ALERT_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(ALERT_STATUSES)}, got {status!r}")
        view = cx_data.health_view(site.ws, end_of_day(as_of))
        at_risk = accounts_at_risk(view.now, view.before, view.networks, view.inputs.accounts, view.config,
                                   limit=RISKS_SHOWN)  # as measure_ops.risks over the (cached) health view
        alerts = cx_alerts.list_alerts(site.ws, status=status or None, limit=ALERTS_SHOWN)
        accounts = _names(site.ws, "accounts", "account_id", [str(a["account_id"]) for a in alerts if a["account_id"]])
        contacts = _names(site.ws, "contacts", "contact_id", [str(a["contact_id"]) for a in alerts if a["contact_id"]])
        tables = [cx_tables.risks_table(at_risk, view.config.health.at_risk_below),
                  cx_tables.alerts_table(cx_tables.alert_rows(alerts, accounts, contacts), status or None)]
        return _respond(site, request, export, tables, "cx-risks", "cx_risks.html", title="Accounts at risk and alerts",
                        cx_pages=cx_pages(site, user), alert_status=status, statuses=ALERT_STATUSES, as_of_day=as_of or "",
                        health_as_of=view.as_of)

    @api.get("/cx/alerts/{alert_id}")
    def alert(request: Request, alert_id: str, user: Annotated[users.SignedIn, Depends(reader)],
              export: str | None = None, done: str | None = None) -> Response:
        """One alert with its log of actions, and (marketer or admin) the form to act on it."""
        row = stored_alerts.get(site.ws.store, alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id!r}")
        account = _names(site.ws, "accounts", "account_id", [row["account_id"]] if row["account_id"] else [])
        contact = _names(site.ws, "contacts", "contact_id", [row["contact_id"]] if row["contact_id"] else [])
        tables = [cx_tables.alert_facts(row, account.get(row["account_id"] or ""), contact.get(row["contact_id"] or "")),
                  cx_tables.actions_table(row)]
        return _respond(site, request, export, tables, f"alert-{alert_id}", "cx_alert.html", title="Alert",
                        cx_pages=cx_pages(site, user), alert=row, account_name=account.get(row["account_id"] or ""),
                        contact_name=contact.get(row["contact_id"] or ""), done=ALERT_ACTIONS.get(done or ""))

    @api.post("/cx/alerts/{alert_id}")
    async def act(
        request: Request,
        alert_id: str,
        user: Annotated[users.SignedIn, Depends(writer)],
        action: Annotated[str, Form(pattern="^(ack|close|note)$")],
        csrf: Annotated[str, Form(max_length=128)],
        note: Annotated[str, Form(max_length=4000)] = "",
    ) -> Response:
        """Acknowledge, close or add a note, as POST /v1/cx/alerts/{id} does; the user's name is kept as ``by``."""
        site.check_form(request, user, csrf)
        text = note.strip() or None
        await site.write(request, lambda: cx_alerts.update_alert(site.ws, alert_id, action, note=text,  # type: ignore[arg-type]
                                                                 by=user.name))
        return RedirectResponse(f"/cx/alerts/{alert_id}?done={action}", status_code=303)

    return api


PAGES: Final = (
    Page("cx", "CX", "/cx", routes=targets_routes, available=has_cx, order=60),
    Page("cx_surveys", "Surveys", "/cx/surveys", routes=surveys_routes, available=has_surveys, nav=False, order=61),
    Page("cx_risks", "Risks and alerts", "/cx/risks", routes=risks_routes, available=has_risks, nav=False, order=62),
)


def register(registry: Registry) -> None:
    """Add the CX pages and the CX panels of the 360° pages (once)."""
    from polku.web import cx_feedback, cx_panels

    for page in (*PAGES, cx_feedback.PAGE):
        if not any(p.slug == page.slug for p in registry.pages):
            registry.add_page(page)
    cx_panels.register(registry)
