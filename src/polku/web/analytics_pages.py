"""The journey analytics pages: funnel builder, journey map, attribution and stage velocity.

Each page turns its GET form into the body of one insight of ``polku.analytics.registry``
(the same body ``POST /v1/analytics/{name}`` takes), lets the insight's query model
validate it, runs it, and arranges the answer into tables and ECharts options. A field
the model refuses is shown next to the form field with status 422, never a 500.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from polku.analytics import registry as insights
from polku.errors import PolkuError
from polku.model import STAGE_ORDER
from polku.web import charts, users
from polku.web.pages import Page, Registry
from polku.web.site import Site
from polku.web.tables import Column, Table, csv_response, pick
from polku.workspace import Workspace

__all__ = ["PAGES", "has_touchpoints", "register"]

GENERAL: Final = "form"  # errors that belong to no single field
SUBJECTS: Final = (("contact", "Contacts"), ("account", "Accounts (buying groups)"))
BREAKDOWNS: Final = ("channel", "topic", "role", "org_level", "industry", "country", "owner")
CONVERSION_STAGES: Final = ("suspect", "prospect", "lead", "opportunity", "customer")
MAX_STEPS: Final = 20
VARIANTS_SHOWN: Final = 10


def has_touchpoints(ws: Workspace) -> bool:
    """Whether the workspace holds at least one touchpoint (a stored event other than an identify call)."""
    exists = ws.store.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'events'")
    return bool(exists[0]["n"]) and bool(ws.store.query("SELECT 1 AS x FROM events WHERE type <> 'identify' LIMIT 1"))


def event_types(ws: Workspace) -> list[str]:
    """The workspace's distinct touchpoint types, most frequent first."""
    rows = ws.store.query(
        "SELECT type, count(*) AS n FROM events WHERE type <> 'identify' GROUP BY type ORDER BY n DESC, type"
    )
    return [r["type"] for r in rows]


# ---- form values, insight answers and field errors ----------------------------------------
@dataclass
class Answer:
    """An insight's result, or the errors that stopped it, keyed by form field."""

    result: Any = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, other: "Answer") -> None:
        for name, messages in other.errors.items():
            self.errors.setdefault(name, []).extend(messages)


def _text(params: QueryParams, name: str) -> str:
    return (params.get(name) or "").strip()


def _put(body: dict[str, Any], key: str, value: str | None) -> None:
    """Set ``key`` when the form field was filled in (an empty field keeps the model's default)."""
    if value:
        body[key] = value


def _dates(params: QueryParams, body: dict[str, Any]) -> None:
    _put(body, "date_from", _text(params, "date_from"))
    _put(body, "date_to", _text(params, "date_to"))


def _field_errors(exc: PolkuError, name: str, fields: Mapping[str, str]) -> dict[str, list[str]]:
    """The query model's complaints by form field; ``fields`` maps a model field to its form field."""
    errors: dict[str, list[str]] = {}
    for detail in exc.details or [{"field": name, "reason": exc.message}]:
        path = str(detail.get("field") or name).split(".")
        reason = str(detail.get("reason") or exc.message)
        target = fields.get(path[0])
        if target is None:  # a check across fields: put it by the first field it names
            target = next((f for m, f in fields.items() if m in reason), GENERAL)
        label = f"{target} {int(path[1]) + 1}" if target == "step" and len(path) > 1 and path[1].isdigit() else path[0]
        errors.setdefault(target, []).append(f"{label}: {reason}" if target != GENERAL else reason)
    return errors


def ask(site: Site, name: str, body: Mapping[str, Any], fields: Mapping[str, str]) -> Answer:
    """Validate ``body`` with the insight's query model and run it on the workspace's tables."""
    try:
        query = insights.parse(name, body)
        return Answer(result=insights.run(name, query, site.ws.tables()))
    except PolkuError as exc:
        return Answer(errors=_field_errors(exc, name, fields))


def rows(frame: Any) -> list[dict[str, Any]]:
    """JSON-ready rows of a result frame (NaN becomes None, so an empty cell shows empty)."""
    return list(insights.jsonable(frame))


def _pct(value: Any) -> float | None:
    return None if value is None else round(100.0 * float(value), 2)


def _days(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 86_400.0, 2)


def num(key: str, label: str) -> Column:
    """A number column."""
    return Column(key, label, "number")


def subject_link(subject: str) -> Callable[[Mapping[str, Any]], str | None]:
    """Rows with an ``entity`` link to that contact's or account's 360° page."""
    prefix = "/contacts/" if subject == "contact" else "/accounts/"
    return lambda row: prefix + str(row["entity"]) if row.get("entity") else None


def respond(site: Site, request: Request, answer: Answer, tables: Sequence[Table], filename: str,
            template: str, **context: Any) -> Response:
    """The page (422 with the errors beside the form), or one table as CSV with ``?export=name``."""
    export = request.query_params.get("export")
    if export and not answer.errors:
        return csv_response(pick(tables, export), f"{filename}-{export}")
    return site.render(request, template, status=422 if answer.errors else 200, errors=answer.errors,
                       tables={t.name: t for t in tables}, **context)


def _option(title: str) -> dict[str, Any]:
    return {"aria": {"enabled": True}, "color": list(charts.PALETTE), "animation": False,
            "textStyle": {"fontFamily": "system-ui, sans-serif", "color": "#1e293b"},
            "title": {"show": False, "text": title}}


def sankey(title: str, graph: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """An ECharts Sankey of a paths answer; node names are '<step>:<node>', unique per step."""
    return _option(title) | {
        "tooltip": {"trigger": "item", "triggerOn": "mousemove"},
        "series": [{
            "type": "sankey", "left": 8, "right": 140, "top": 8, "bottom": 8, "nodeGap": 10,
            "emphasis": {"focus": "adjacency"}, "lineStyle": {"color": "gradient", "opacity": 0.35},
            "label": {"color": "#1e293b", "formatter": "{b}"},
            "data": [{"name": n["id"], "value": n["count"]} for n in graph["nodes"]],
            "links": [{"source": lk["source"], "target": lk["target"], "value": lk["value"]} for lk in graph["links"]],
        }],
    }


def grouped_bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]],
                 unit: str = "%") -> dict[str, Any]:
    """Grouped vertical bars: one group per label, one bar per series."""
    return _option(title) | {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0, "type": "scroll"},
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 28, "containLabel": True},
        "xAxis": {"type": "category", "data": list(labels), "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}" + unit}},
        "series": [{"type": "bar", "name": name, "data": list(values)} for name, values in series.items()],
    }


# ---- funnel ------------------------------------------------------------------------------
FUNNEL_FIELDS: Final = {"steps": "step", "window": "window", "subject": "subject", "breakdown": "breakdown",
                        "date_from": "date_from", "date_to": "date_to"}
RATE_NOTE: Final = "Rates are in per cent with a 95% Wilson interval; times run from the step before, for those who went on."


def parse_step(text: str) -> dict[str, Any]:
    """A funnel step from a form value: 'stage:lead' is a lifecycle stage, anything else an event type."""
    kind, _, rest = text.partition(":")
    return {"stage": rest} if kind == "stage" and rest else {"event": text}


def funnel_rows(frame: Any) -> list[dict[str, Any]]:
    """A funnel's step rows with rates in per cent and times in days."""
    out = []
    for r in rows(frame):
        row = {k: r[k] for k in ("step", "name", "entered", "converted", "dropped") if k in r}
        if "group" in r:
            row = {"group": r["group"], **row}
        for key in ("rate", "rate_low", "rate_high", "overall", "overall_low", "overall_high"):
            row[f"{key}_pct"] = _pct(r.get(key))
        row["median_days"], row["p90_days"] = _days(r.get("median_seconds")), _days(r.get("p90_seconds"))
        out.append(row)
    return out


def funnel_columns(*, grouped: bool) -> list[Column]:
    """The columns of a funnel steps table."""
    first = [Column("group", "Group")] if grouped else []
    return first + [
        num("step", "Step"), Column("name", "Name"), num("entered", "Entered"), num("converted", "Converted"),
        num("dropped", "Dropped"), num("rate_pct", "Rate %"), num("rate_low_pct", "Rate low %"),
        num("rate_high_pct", "Rate high %"), num("overall_pct", "Overall %"), num("overall_low_pct", "Overall low %"),
        num("overall_high_pct", "Overall high %"), num("median_days", "Median days"), num("p90_days", "P90 days"),
    ]


def funnel_routes(site: Site) -> APIRouter:
    """GET /analytics/funnel."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])

    @api.get("/analytics/funnel")
    def funnel(request: Request, user: Annotated[users.SignedIn, Depends(site.needs("read"))]) -> Response:
        """Conversion through chosen steps (the ``funnel`` insight, as POST /v1/analytics/funnel)."""
        params = request.query_params
        types = event_types(site.ws)
        given = "step" in params
        steps = [s.strip() for s in params.getlist("step") if s.strip()][:MAX_STEPS + 1] if given else (
            [*types[:1], "stage:lead", "stage:opportunity"])
        body: dict[str, Any] = {"steps": [parse_step(s) for s in steps], "window": _text(params, "window") or "30d",
                                "subject": _text(params, "subject") or "contact"}
        _put(body, "breakdown", _text(params, "breakdown"))
        _dates(params, body)
        answer = ask(site, "funnel", body, FUNNEL_FIELDS)
        tables, chart, warnings = [], None, []
        if answer.result is not None:
            frames = insights.frames(answer.result)
            step_rows = funnel_rows(frames["steps"])
            tables.append(Table("steps", "Funnel steps", funnel_columns(grouped=False), step_rows, note=RATE_NOTE))
            if frames.get("groups") is not None and body.get("breakdown"):
                tables.append(Table("groups", f"Funnel steps by {body['breakdown']}", funnel_columns(grouped=True),
                                    funnel_rows(frames["groups"]), note=RATE_NOTE))
            chart = charts.bars("Journeys reaching each step",
                                [f"{r['step']}. {r['name']}" for r in step_rows], [r["converted"] for r in step_rows])
            warnings = list(answer.result.warnings)
        options = {"types": types, "stages": list(STAGE_ORDER), "breakdowns": BREAKDOWNS, "subjects": SUBJECTS}
        form = {"steps": steps, "window": body["window"], "subject": body["subject"],
                "breakdown": body.get("breakdown", ""), "date_from": _text(params, "date_from"),
                "date_to": _text(params, "date_to")}
        return respond(site, request, answer, tables, "funnel", "analytics_funnel.html", title="Funnel builder",
                       form=form, options=options, chart=chart, warnings=warnings)

    return api


# ---- paths and variants --------------------------------------------------------------------
PATHS_FIELDS: Final = {"start": "start", "direction": "direction", "steps": "steps", "node_by": "node_by",
                       "subject": "subject", "date_from": "date_from", "date_to": "date_to"}


def paths_routes(site: Site) -> APIRouter:
    """GET /analytics/paths."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])

    @api.get("/analytics/paths")
    def paths(request: Request, user: Annotated[users.SignedIn, Depends(site.needs("read"))]) -> Response:
        """A journey map around an anchor (``paths``) and the top journey variants (``variants``)."""
        params = request.query_params
        form = {name: _text(params, name) for name in PATHS_FIELDS}
        form["direction"] = form["direction"] or "next"
        form["steps"] = form["steps"] or "3"
        form["node_by"] = form["node_by"] or "type"
        form["subject"] = form["subject"] or "contact"
        body: dict[str, Any] = {k: form[k] for k in ("direction", "steps", "node_by", "subject")}
        if form["start"]:
            body["start"] = {"event": form["start"]}
        _dates(params, body)
        answer = ask(site, "paths", body, PATHS_FIELDS)
        shared = {k: v for k, v in body.items() if k in ("node_by", "subject", "date_from", "date_to")}
        variants = ask(site, "variants", {**shared, "top": VARIANTS_SHOWN}, PATHS_FIELDS) if not answer.errors else Answer()
        answer.add(variants)
        tables, chart, warnings, summary = [], None, [], {}
        if answer.result is not None and variants.result is not None:
            payload = insights.payload(answer.result)
            nodes = [{**r, "share_pct": _pct(r["share"])} for r in rows(answer.result.nodes)]
            tables += [
                Table("nodes", "Nodes per step", [num("step", "Step"), Column("node", "Node"), num("count", "Journeys"),
                      num("share_pct", "Share %")], nodes, note="Step 0 is the anchor; earlier steps are negative.",
                      empty="No journey has this anchor."),
                Table("links", "Moves between steps", [num("source_step", "From step"), Column("source", "From"),
                      num("target_step", "To step"), Column("target", "To"), num("count", "Journeys")],
                      rows(answer.result.links), empty="No moves to show."),
            ]
            v = variants.result
            tables.append(Table("variants", "Top journey variants", [
                num("rank", "Rank"), Column("variant", "Variant"), num("journeys", "Journeys"),
                num("share_pct", "Share %"), num("converted", "Converted"), num("conversion_pct", "Conversion %"),
                num("conversion_low_pct", "Conversion low %"), num("conversion_high_pct", "Conversion high %")],
                [{**r, "share_pct": _pct(r["share"]), "conversion_pct": _pct(r["conversion_rate"]),
                  "conversion_low_pct": _pct(r["rate_low"]), "conversion_high_pct": _pct(r["rate_high"])}
                 for r in rows(v.variants)],
                note="Conversion: reaching the opportunity stage or a later one, with a 95% Wilson interval; "
                     "a converted journey's variant stops before it.", empty="No journeys in this range."))
            chart = sankey("Journey map", payload["sankey"])
            warnings = list(answer.result.warnings) + list(v.warnings)
            summary = {"anchored": answer.result.anchored, "journeys": v.journeys, "converted": v.converted}
        options = {"types": event_types(site.ws), "subjects": SUBJECTS, "steps": range(1, 11)}
        return respond(site, request, answer, tables, "paths", "analytics_paths.html", title="Journey map",
                       form=form, options=options, chart=chart, warnings=warnings, summary=summary)

    return api


# ---- attribution -----------------------------------------------------------------------------
ATTRIBUTION_FIELDS: Final = {"conversion": "conversion", "level": "level", "by": "by", "models": "model",
                             "lookback_days": "lookback_days", "date_from": "date_from", "date_to": "date_to"}


def attribution_routes(site: Site) -> APIRouter:
    """GET /analytics/attribution."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])

    @api.get("/analytics/attribution")
    def attribution(request: Request, user: Annotated[users.SignedIn, Depends(site.needs("read"))]) -> Response:
        """Credit per channel or type by several models side by side (the ``attribution`` insight)."""
        from polku.analytics.attribution.query import MODELS  # Ibis loads with the first analytics page

        params = request.query_params
        form: dict[str, Any] = {name: _text(params, name) for name in ("conversion", "level", "by", "lookback_days",
                                                                          "date_from", "date_to")}
        form["conversion"] = form["conversion"] or "stage:opportunity"
        form["level"], form["by"] = form["level"] or "contact", form["by"] or "channel"
        form["models"] = [m for m in params.getlist("model") if m] if "model" in params else list(MODELS)
        kind, _, value = form["conversion"].partition(":")
        conversion = {"stage": value} if kind == "stage" and value else {"event_type": form["conversion"]}
        body: dict[str, Any] = {"conversion": conversion, "level": form["level"], "by": form["by"],
                                "models": form["models"]}
        _put(body, "lookback_days", form["lookback_days"])
        _dates(params, body)
        answer = ask(site, "attribution", body, ATTRIBUTION_FIELDS)
        tables, chart, notes, summary = [], None, [], {}
        if answer.result is not None:
            result = answer.result
            models = list(result.credits.columns)
            label = result.query.by
            credits = [{label: str(idx), **{m: float(row[m]) for m in models}} for idx, row in result.credits.iterrows()]
            shares = [{label: str(idx), **{m: _pct(row[m]) for m in models}} for idx, row in result.shares.iterrows()]
            head = Column(label, label.capitalize())
            tables += [
                Table("shares", "Share of credit by model (%)", [head, *(num(m, m.replace("_", " ")) for m in models)],
                      shares, empty="No conversions to credit."),
                Table("credits", "Credited conversions by model", [head, *(num(m, m.replace("_", " ")) for m in models)],
                      credits, empty="No conversions to credit."),
            ]
            chart = grouped_bars("Share of credit by model", [r[label] for r in shares],
                                 {m.replace("_", " "): [r[m] for r in shares] for m in models})
            notes = list(result.notes)
            summary = {"conversions": result.conversions, "attributed": result.attributed,
                       "journeys": result.journeys}
        options = {"types": event_types(site.ws), "stages": CONVERSION_STAGES, "models": MODELS,
                   "subjects": SUBJECTS}
        return respond(site, request, answer, tables, "attribution", "analytics_attribution.html", title="Attribution",
                       form=form, options=options, chart=chart, warnings=notes, summary=summary)

    return api


# ---- velocity ----------------------------------------------------------------------------------
VELOCITY_FIELDS: Final = {"subject": "subject", "within": "within", "date_from": "date_from", "date_to": "date_to"}


def velocity_routes(site: Site) -> APIRouter:
    """GET /analytics/velocity."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])

    @api.get("/analytics/velocity")
    def velocity(request: Request, user: Annotated[users.SignedIn, Depends(site.needs("read"))]) -> Response:
        """Time in each lifecycle stage, cohorts and stalled journeys (the ``velocity`` insight)."""
        params = request.query_params
        form = {name: _text(params, name) for name in VELOCITY_FIELDS}
        form["subject"] = form["subject"] or "contact"
        body: dict[str, Any] = {"subject": form["subject"]}
        _put(body, "within", form["within"])
        _dates(params, body)
        answer = ask(site, "velocity", body, VELOCITY_FIELDS)
        tables, chart, warnings, as_of = [], None, [], None
        if answer.result is not None:
            result = answer.result
            stages = rows(result.stages)
            tables += [
                Table("stages", "Time in stage", [Column("stage", "Stage"), num("entered", "Entered"),
                      num("moved_on", "Moved on"), num("current", "Still there"), num("median_days", "Median days"),
                      num("p90_days", "P90 days"), num("mean_days", "Mean days")], stages),
                Table("stalls", "Stalls per stage", [Column("stage", "Stage"), num("current", "Still there"),
                      num("stalled", "Stalled"), num("stalled_pct", "Stalled %"), num("threshold_days", "Threshold days"),
                      num("median_age_days", "Median age days")],
                      [{**r, "stalled_pct": _pct(r["stalled_share"])} for r in rows(result.stalls)],
                      note="Stalled: in the stage longer than the p90 time of those who moved on."),
                Table("stalled", "Most overdue stalled journeys", [
                      Column("entity", "Contact" if form["subject"] == "contact" else "Account",
                             href=subject_link(form["subject"])), Column("stage", "Stage"),
                      Column("since", "Since", "when"), num("age_days", "Age days"),
                      num("threshold_days", "Threshold days")], rows(result.stalled), empty="Nothing is stalled."),
                Table("cohorts", "Stage conversion by monthly cohort", [
                      Column("stage", "Stage"), Column("cohort", "Cohort"), num("entered", "Entered"),
                      num("advanced", "Advanced"), num("rate_pct", "Rate %"), num("rate_low_pct", "Rate low %"),
                      num("rate_high_pct", "Rate high %"), Column("complete", "Complete")],
                      [{**r, "rate_pct": _pct(r["rate"]), "rate_low_pct": _pct(r["rate_low"]),
                        "rate_high_pct": _pct(r["rate_high"])} for r in rows(result.cohorts)]),
            ]
            chart = charts.bars("Median days in stage", [r["stage"] for r in stages],
                                [r["median_days"] or 0 for r in stages])
            warnings = list(result.warnings)
            as_of = result.as_of
        return respond(site, request, answer, tables, "velocity", "analytics_velocity.html", title="Stage velocity",
                       form=form, options={"subjects": SUBJECTS}, chart=chart, warnings=warnings, as_of=as_of)

    return api


PAGES: Final = (
    Page("funnel", "Funnels", "/analytics/funnel", routes=funnel_routes, available=has_touchpoints, order=30),
    Page("paths", "Journey map", "/analytics/paths", routes=paths_routes, available=has_touchpoints, order=31),
    Page("attribution", "Attribution", "/analytics/attribution", routes=attribution_routes,
         available=has_touchpoints, order=32),
    Page("velocity", "Velocity", "/analytics/velocity", routes=velocity_routes, available=has_touchpoints, order=33),
)


def register(registry: Registry) -> None:
    """Add the analytics pages (once)."""
    for page in PAGES:
        if not any(p.slug == page.slug for p in registry.pages):
            registry.add_page(page)
