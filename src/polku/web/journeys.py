"""The journeys pages: every journey with its status and counts, one journey's numbers per step
and its lift over the holdout, and pausing and resuming a journey (marketer or admin).

Handlers call what the ``/v1`` routes call and only arrange the answers: ``ops.list_journeys``
(``GET /v1/journeys``), ``ops.journey_detail`` (``GET /v1/journeys/{id}``), ``journey_report``
(``GET /v1/journeys/{id}/report``) and ``ops.set_journey_status`` (``POST /v1/journeys/{id}/pause``
and ``/resume``).

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from polku.errors import NotFound
from polku.nurture import ops
from polku.nurture.definitions import Journey
from polku.nurture.loader import JOURNEYS_DIR
from polku.nurture.report import journey_report
from polku.web import charts, users
from polku.web.pages import Page, Registry, has_rows
from polku.web.site import Site
from polku.web.tables import Column, Table, csv_response, pick
from polku.workspace import Workspace

MAIL_KINDS: Final[frozenset[str]] = frozenset({"send", "notify_owner", "webhook"})
CsrfField = Annotated[str, Form(max_length=128)]
BackField = Annotated[str, Form(max_length=16, description="list: go back to the journeys list")]
DONE: Final[dict[str, str]] = {"paused": "paused", "resumed": "resumed"}


def has_journeys(ws: Workspace) -> bool:
    """Whether the workspace defines a journey (journeys/*.yaml) or one has run."""
    folder = ws.home / JOURNEYS_DIR
    if folder.is_dir() and any(p.suffix in (".yaml", ".yml") and p.is_file() for p in folder.iterdir()):
        return True
    return has_rows(ws, "nurture_journeys")


def journey_link(row: Mapping[str, Any]) -> str | None:
    """The page of a row's journey."""
    return f"/journeys/{row['id']}" if row.get("id") else None


def _pct(part: float | None, whole: float | None = 1.0) -> float | None:
    """``part / whole`` in per cent, rounded to 0.1 (None when it cannot be computed)."""
    if part is None or not whole:
        return None
    return round(100.0 * float(part) / float(whole), 1)


def num(key: str, label: str) -> Column:
    """A number column."""
    return Column(key, label, "number")


# ---- the list -------------------------------------------------------------------------------------
def list_table(journeys: Sequence[Mapping[str, Any]]) -> Table:
    """Every journey (GET /v1/journeys) with status and counts."""
    rows = [{**j, "holdout_percent": _pct(j.get("holdout"))} for j in journeys]
    return Table("journeys", "Journeys", [
        Column("name", "Journey", href=journey_link), Column("status", "Status"), num("priority", "Priority"),
        num("holdout_percent", "Holdout (%)"), num("enrolled", "Enrolled"), num("active", "Active"),
        num("completed", "Completed"), num("goal_reached", "Reached the goal"), num("in_holdout", "In the holdout"),
        Column("id", "Id"), Column("source", "File")], rows,
        note="Enrolled and reached the goal count both arms; the holdout is enrolled but sent nothing.",
        empty="No journeys: put one in journeys/ (see the nurture chapter).")


# ---- one journey ----------------------------------------------------------------------------------
def _kinds(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(step id, kind) of a journey definition, in order."""
    journey = Journey.model_validate(definition)
    return [(s.id, s.kind) for s in journey.steps]


def steps_table(report: Mapping[str, Any] | None, definition: Mapping[str, Any]) -> Table:
    """Per step: how often it ran, its outcomes, and for messages queued, sent, opened and clicked."""
    if report is None:
        rows = [{"step_id": sid, "kind": kind, "ran": 0} for sid, kind in _kinds(definition)]
    else:
        rows = []
        for s in report["steps"]:
            row = {**s, "outcomes": ", ".join(f"{k} {v:,}" for k, v in s["outcomes"].items())}
            if s["kind"] in MAIL_KINDS:
                row |= {"open_rate": _pct(s.get("opened"), s.get("sent")), "click_rate": _pct(s.get("clicked"), s.get("sent"))}
            rows.append(row)
    return Table("steps", "Steps", [
        Column("step_id", "Step"), Column("kind", "Kind"), num("ran", "Ran"), Column("outcomes", "Outcomes"),
        num("queued", "Queued"), num("sent", "Sent"), num("not_sent", "Not sent"), num("opened", "Opened"),
        num("clicked", "Clicked"), num("open_rate", "Opened (% of sent)"), num("click_rate", "Clicked (% of sent)")],
        rows, note="Ran counts contacts of the journey arm who passed the step; opened and clicked come from tracked e-mails.")


def arms_table(report: Mapping[str, Any] | None) -> Table:
    """The journey arm and the holdout side by side: enrolled, where they are, and the goal rate."""
    rows = []
    if report is not None:
        for arm, label in (("treatment", "In the journey"), ("control", "Holdout")):
            a = report["arms"][arm]
            rows.append({"arm": label, **a, "goal_rate": _pct(a["goal_reached"], a["enrolled"])})
    return Table("arms", "Journey and holdout", [
        Column("arm", "Arm"), num("enrolled", "Enrolled"), num("active", "Active"), num("completed", "Completed"),
        num("exited", "Exited"), num("goal_reached", "Reached the goal"), num("goal_rate", "Goal rate (%)"),
        num("matured", "Past their goal window")], rows, empty="This journey has not run yet.")


def lift_table(report: Mapping[str, Any] | None) -> Table:
    """The goal, each arm's goal rate, and the lift with its confidence interval (one row)."""
    rows: list[dict[str, Any]] = []
    if report is not None and report["goal"] is not None:
        g, lift = report["goal"], report["lift"] or {}
        rows.append({
            "goal": g["what"], "within": g["within"], "journey_rate": _pct(g["treatment_rate"]),
            "holdout_rate": _pct(g["control_rate"]), "lift_points": _pct(lift.get("estimate")),
            "low_points": _pct(lift.get("low")), "high_points": _pct(lift.get("high")),
            "confidence": _pct(lift.get("confidence")), "verdict": report["verdict"], "method": lift.get("method"),
        })
    return Table("lift", "Lift over the holdout", [
        Column("goal", "Goal"), Column("within", "Within"), num("journey_rate", "Goal rate in the journey (%)"),
        num("holdout_rate", "Goal rate in the holdout (%)"), num("lift_points", "Lift (points)"),
        num("low_points", "Interval from (points)"), num("high_points", "Interval to (points)"),
        num("confidence", "Confidence (%)"), Column("verdict", "Verdict"), Column("method", "Method")],
        rows, extra={"facts": True},
        empty="No lift to show: the journey has no goal, or has not run yet.")


def journey_charts(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """The steps chart and, when there is a lift, the goal rates and the lift interval."""
    if report is None:
        return {}
    steps = report["steps"]
    out: dict[str, Any] = {"steps": charts.grouped_bars(
        "Contacts per step, and messages sent, opened and clicked", [s["step_id"] for s in steps],
        {"ran": [s["ran"] for s in steps], "sent": [s.get("sent") for s in steps],
         "opened": [s.get("opened") for s in steps], "clicked": [s.get("clicked") for s in steps]})}
    g, lift = report["goal"], report["lift"]
    if g is not None:
        rates = [_pct(g["treatment_rate"]) or 0.0, _pct(g["control_rate"]) or 0.0]
        out["rates"] = charts.bars("Goal rate by arm (%)", ["In the journey", "Holdout"], rates, horizontal=False)
    if lift is not None:
        out["lift"] = charts.interval(
            f"Lift in goal rate, points, with its {lift['confidence']:.0%} interval", "Lift",
            _pct(lift["estimate"]) or 0.0, _pct(lift["low"]) or 0.0, _pct(lift["high"]) or 0.0)
    return out


def _report(ws: Workspace, journey_id: str) -> dict[str, Any] | None:
    """The journey's report (GET /v1/journeys/{id}/report), or None before it first ran."""
    try:
        return journey_report(ws.store, journey_id)
    except NotFound:
        return None


# ---- routes ---------------------------------------------------------------------------------------
def router(site: Site) -> APIRouter:
    """GET /journeys and /journeys/{id}; POST /journeys/{id}/pause and /resume (marketer or admin)."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])
    reader, writer = site.needs("read"), site.needs("write")

    @api.get("/journeys")
    def journeys(request: Request, user: Annotated[users.SignedIn, Depends(reader)], export: str | None = None,
                 done: str | None = None, journey: str | None = None) -> Response:
        """Every journey with its status and counts, and a pause or resume button for marketers."""
        table = list_table(ops.list_journeys(site.ws))  # GET /v1/journeys
        if export:
            return csv_response(pick([table], export), "journeys")
        return site.render(request, "journeys.html", title="Journeys", tables={"journeys": table},
                           done=DONE.get(done or ""), done_journey=journey)

    @api.get("/journeys/{journey_id}")
    def journey(request: Request, journey_id: str, user: Annotated[users.SignedIn, Depends(reader)],
                export: str | None = None, done: str | None = None) -> Response:
        """One journey: status, per-step numbers, the holdout and the lift with its interval."""
        detail = ops.journey_detail(site.ws, journey_id)  # GET /v1/journeys/{id}
        report = _report(site.ws, journey_id)  # GET /v1/journeys/{id}/report
        tables = [steps_table(report, detail["definition"]), arms_table(report), lift_table(report)]
        if export:
            return csv_response(pick(tables, export), f"journey-{journey_id}")
        definition = detail["definition"]
        return site.render(request, "journey.html", title=definition.get("name") or journey_id,
                           detail=detail, report=report, definition=definition,
                           tables={t.name: t for t in tables}, charts=journey_charts(report),
                           warnings=report["warnings"] if report else [], done=DONE.get(done or ""))

    async def set_status(request: Request, journey_id: str, user: users.SignedIn, csrf: str, back: str,
                         status: str) -> Response:
        """Pause or resume through the writer thread, then show the journey (or the list) with a note."""
        site.check_form(request, user, csrf)
        await site.write(request, lambda: ops.set_journey_status(site.ws.home, journey_id, status, by=user.name))
        done = "paused" if status == "paused" else "resumed"
        if back == "list":
            return RedirectResponse(f"/journeys?done={done}&journey={journey_id}", status_code=303)
        return RedirectResponse(f"/journeys/{journey_id}?done={done}", status_code=303)

    @api.post("/journeys/{journey_id}/pause")
    async def pause(request: Request, journey_id: str, user: Annotated[users.SignedIn, Depends(writer)],
                    csrf: CsrfField, back: BackField = "") -> Response:
        """Pause a journey, as POST /v1/journeys/{id}/pause does (marketer or admin)."""
        return await set_status(request, journey_id, user, csrf, back, "paused")

    @api.post("/journeys/{journey_id}/resume")
    async def resume(request: Request, journey_id: str, user: Annotated[users.SignedIn, Depends(writer)],
                     csrf: CsrfField, back: BackField = "") -> Response:
        """Resume a journey, as POST /v1/journeys/{id}/resume does (marketer or admin)."""
        return await set_status(request, journey_id, user, csrf, back, "active")

    return api


def register(registry: Registry) -> None:
    """Add the Journeys page (once); it appears when a journey is defined or has run."""
    if not any(p.slug == "journeys" for p in registry.pages):
        registry.add_page(Page("journeys", "Journeys", "/journeys", routes=router, available=has_journeys, order=40))
