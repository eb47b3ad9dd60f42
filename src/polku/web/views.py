"""The overview, search and 360° pages. Each handler calls the same functions as the matching
``/v1`` route (named in its docstring) and only arranges their answer into tables and charts.

No ``from __future__ import annotations``: FastAPI reads the routes' annotations.
"""

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from polku import profiles
from polku.errors import InvalidInput
from polku.model import CHANNELS, STANDARD_EVENTS, OrgLevel, Role
from polku.web import charts, reads, scored, users
from polku.web.pages import has_rows, panel_tables, registry
from polku.web.site import Site
from polku.web.tables import Column, Table, csv_response, pick

LIMITS = (50, 200, 1000)
LEVELS = (*(lvl.value for lvl in OrgLevel), "unknown")
ROLE_ORDER = {r.value: i for i, r in enumerate(Role)}


def account_link(row: Any) -> str | None:
    """The account page of a row with an account_id."""
    return f"/accounts/{row['account_id']}" if row.get("account_id") else None


def contact_link(row: Any) -> str | None:
    """The contact page of a row with a contact_id."""
    return f"/contacts/{row['contact_id']}" if row.get("contact_id") else None


def _respond(site: Site, request: Request, export: str | None, tables: Sequence[Table], filename: str,
             template: str, **context: Any) -> Response:
    """The page, or one of its tables as CSV when ``?export=name`` is given."""
    if export:
        return csv_response(pick(tables, export), f"{filename}-{export}")
    return site.render(request, template, tables={t.name: t for t in tables}, **context)


# ---- overview -----------------------------------------------------------------------------
def overview_tables(stats: dict[str, Any], funnel: dict[str, list[dict[str, Any]]],
                    weekly: list[dict[str, Any]]) -> list[Table]:
    """The overview's tables from GET /v1/stats, /v1/stages and /v1/stages/weekly."""
    stages = [
        {"stage": c["stage"], "contacts_now": c["now"], "contacts_reached": c["reached"],
         "accounts_now": a["now"], "accounts_reached": a["reached"]}
        for c, a in zip(funnel["contacts"], funnel["accounts"], strict=True)
    ]
    by_week: dict[date, dict[str, Any]] = {}
    for r in weekly:
        row = by_week.setdefault(r["week"], {"week": r["week"]})
        row[f"{r['stage']}_contacts"] = r["contacts"]
        row[f"{r['stage']}_accounts"] = r["accounts"]
    n = lambda key, label: Column(key, label, "number")  # noqa: E731 - a short column maker
    return [
        Table("stages", "Lifecycle stages", [Column("stage", "Stage"), n("contacts_now", "Contacts now"),
              n("contacts_reached", "Contacts reached"), n("accounts_now", "Accounts now"),
              n("accounts_reached", "Accounts reached")], stages,
              note="“Reached” counts everyone who is in the stage now or has been in it or a later one."),
        Table("weekly", "New leads and opportunities per week", [Column("week", "Week of", "date"),
              n("lead_contacts", "New lead contacts"), n("opportunity_contacts", "New opportunity contacts"),
              n("lead_accounts", "New lead accounts"), n("opportunity_accounts", "New opportunity accounts")],
              list(by_week.values())),
        Table("channels", "Channel mix", [Column("channel", "Channel"), n("events", "Events")], stats["channels"]),
        Table("top_accounts", "Most active accounts (last 30 days of data)", [
            Column("name", "Account", href=account_link), Column("account_id", "Id"), Column("stage", "Stage"),
            n("recent_events", "Touchpoints"), Column("last_activity", "Last activity", "when")], stats["top_accounts"]),
    ]


def top_scored_table(ranked: list[dict[str, Any]]) -> Table:
    """Accounts ranked by score (GET /v1/leads/accounts) as a table."""
    rows = [{**r, "decision_maker": None if r["decision_maker_engaged"] is None else
             ("yes" if r["decision_maker_engaged"] else "no")} for r in ranked]
    return Table("top_scored", "Top accounts by score", [
        Column("name", "Account", href=account_link), Column("account_id", "Id"), Column("stage", "Stage"),
        Column("score", "Score", "number"), Column("grade", "Grade"), Column("active_contacts", "Active people", "number"),
        Column("contacts", "People", "number"), Column("decision_maker", "Decision-maker engaged"),
        Column("scored_at", "Scored", "when")], rows,
        note="Rolled up at the latest refresh: engagement and fit of the buying group.")


# ---- 360° views ---------------------------------------------------------------------------
def timeline_table(tl: dict[str, Any], *, with_contact: bool) -> Table:
    """The filtered timeline (GET /v1/{accounts|contacts}/{key}/timeline) as a table."""
    cols = [Column("ts", "When", "when"), Column("type", "Type"), Column("channel", "Channel"),
            Column("topic", "Topic"), Column("value", "Value", "number")]
    if with_contact:
        cols.append(Column("contact_name", "Contact", href=contact_link))
    cols += [Column("contact_id", "Contact id"), Column("event_id", "Event id")]
    shown = len(tl["events"])
    return Table("timeline", "Timeline", cols, tl["events"],
                 note=f"The latest {shown:,} of {tl['matching']:,} matching touchpoints.",
                 empty="No touchpoints match these filters.")


def history_table(rows: list[dict[str, Any]], *, with_contact: bool) -> Table:
    """Stage history rows as a table."""
    cols = [Column("ts", "When", "when"), Column("stage", "Stage"), Column("from_stage", "From"),
            Column("reason", "Why"), Column("rule", "Rule")]
    if with_contact:
        cols.append(Column("contact_id", "Moved by", href=contact_link))
    return Table("stage_history", "Stage history", cols, rows)


def mix_table(rows: list[dict[str, Any]]) -> Table:
    """Channel mix rows as a table."""
    return Table("channel_mix", "Channel mix", [Column("channel", "Channel"), Column("events", "Touchpoints", "number"),
                 Column("last_at", "Last", "when")], rows)


def buying_map(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The buying group laid out by organisational level (rows) and role (columns)."""
    roles = sorted({m["role"] or "unknown" for m in members}, key=lambda r: (ROLE_ORDER.get(r, 99), r))
    cells: dict[str, dict[str, list[dict[str, Any]]]] = {lvl: {r: [] for r in roles} for lvl in LEVELS}
    for m in members:
        cells[m["org_level"] if m["org_level"] in cells else "unknown"][m["role"] or "unknown"].append(m)
    levels = [lvl for lvl in LEVELS if lvl != "unknown" or any(cells["unknown"].values())]
    return {"roles": roles, "levels": levels, "cells": cells}


class TimelineFilters:
    """The timeline filter form's fields, from the query string."""

    def __init__(
        self,
        channel: Annotated[str | None, Query()] = None,
        type: Annotated[str | None, Query(max_length=64)] = None,
        since: Annotated[str | None, Query(max_length=10)] = None,
        until: Annotated[str | None, Query(max_length=10)] = None,
        limit: Annotated[int, Query(ge=1, le=reads.MAX_TIMELINE)] = 50,
    ) -> None:
        self.channel = channel or None
        self.type = (type or "").strip() or None
        self.since, self.until, self.limit = _day(since, "since"), _day(until, "until"), limit

    def run(self, site: Site, subject: str, key: str, export: str | None) -> dict[str, Any]:
        """The timeline for these filters; a CSV export of it gets up to the full maximum of rows."""
        limit = reads.MAX_TIMELINE if export == "timeline" else self.limit
        return reads.timeline(site.ws.store, subject, key, channel=self.channel, type=self.type,
                              since=self.since, until=self.until, limit=limit)


def _day(value: str | None, name: str) -> date | None:
    """A day from a date field of the form (an empty field means no limit)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a day as YYYY-MM-DD, got {value!r}") from exc


def _empty(value: str | None) -> str | None:
    return value or None


def router(site: Site) -> APIRouter:
    """GET /overview, /search, /accounts/{key}, /contacts/{key}; POST /contacts/{key}/lead."""
    api = APIRouter(route_class=site.route_class, include_in_schema=False, dependencies=[Depends(site.fresh)])
    reader = site.needs("read")
    filter_options = {"channels": sorted(CHANNELS), "types": list(STANDARD_EVENTS), "limits": LIMITS}

    @api.get("/overview")
    def overview(
        request: Request,
        user: Annotated[users.SignedIn, Depends(reader)],
        export: str | None = None,
        weeks: Annotated[int, Query(ge=1, le=reads.MAX_WEEKS)] = 52,
    ) -> Response:
        """Funnel, weekly leads and opportunities, channel mix and the most active accounts."""
        store = site.ws.store
        stats = profiles.stats(store)  # GET /v1/stats
        funnel = reads.stage_funnel(store)  # GET /v1/stages
        weekly = reads.weekly_stages(store, weeks=weeks)  # GET /v1/stages/weekly
        tables = overview_tables(stats, funnel, weekly)
        week_rows = tables[1].rows
        chart = {
            "contacts_funnel": charts.funnel("Contacts by lifecycle stage", funnel["contacts"]),
            "accounts_funnel": charts.funnel("Accounts by lifecycle stage", funnel["accounts"]),
            "weekly": charts.weekly_lines(
                "New leads and opportunities per week", [r["week"] for r in week_rows],
                {"lead": [r.get("lead_contacts", 0) for r in week_rows],
                 "opportunity": [r.get("opportunity_contacts", 0) for r in week_rows]}),
            "channels": charts.bars("Touchpoints by channel", [c["channel"] for c in stats["channels"]],
                                    [c["events"] for c in stats["channels"]]),
        }
        if registry.is_available(site.ws, "overview:account-scores", lambda ws: has_rows(ws, "account_scores")):
            ranked = scored.accounts_by_score(store, limit=10)  # GET /v1/leads/accounts
            tables.append(top_scored_table(ranked))
            chart["top_scored"] = charts.bars("Top accounts by score", [r["name"] or r["account_id"] for r in ranked],
                                              [r["score"] for r in ranked])
        return _respond(site, request, export, tables, "overview", "overview.html", title="Overview",
                        stats=stats, charts=chart, weeks=weeks)

    @api.get("/search")
    def search(
        request: Request,
        user: Annotated[users.SignedIn, Depends(reader)],
        q: Annotated[str, Query(max_length=200)] = "",
        export: str | None = None,
    ) -> Response:
        """Accounts and contacts by name, domain, e-mail or id (GET /v1/search)."""
        found = reads.search(site.ws.store, q, limit=reads.MAX_SEARCH) if q.strip() else None
        tables = []
        if found is not None:
            tables = [
                Table("accounts", "Accounts", [
                    Column("name", "Account", href=account_link), Column("domain", "Domain"),
                    Column("industry", "Industry"), Column("country", "Country"), Column("stage", "Stage"),
                    Column("contact_count", "Contacts", "number"), Column("event_count", "Touchpoints", "number"),
                    Column("last_seen", "Last activity", "when"), Column("account_id", "Id")],
                    found["accounts"], empty="No account matches."),
                Table("contacts", "Contacts", [
                    Column("name", "Name", href=contact_link), Column("email", "E-mail"), Column("title", "Title"),
                    Column("role", "Role"), Column("stage", "Stage"),
                    Column("account_name", "Account", href=account_link), Column("last_seen", "Last activity", "when"),
                    Column("contact_id", "Id"), Column("account_id", "Account id")],
                    found["contacts"], empty="No contact matches."),
            ]
        return _respond(site, request, export, tables, "search", "search.html", title="Search", q=q, found=found)

    @api.get("/accounts/{key}")
    def account(
        request: Request,
        key: str,
        user: Annotated[users.SignedIn, Depends(reader)],
        filters: Annotated[TimelineFilters, Depends()],
        export: str | None = None,
    ) -> Response:
        """Profile, buying group map, timeline with filters, stage history and channel mix of an account."""
        view = profiles.account_view(site.ws.store, key, limit=1)  # GET /v1/accounts/{key}
        tl = filters.run(site, "account", view["account"]["account_id"], export)  # GET /v1/accounts/{key}/timeline
        members = scored.with_facts(site.ws.store, view["buying_group"])  # GET /v1/accounts/{key}/buying-group
        tables = [
            Table("buying_group", "Buying group", [
                Column("name", "Name", href=contact_link), Column("email", "E-mail"), Column("title", "Title"),
                Column("role", "Role"), Column("org_level", "Level"), Column("stage", "Stage"),
                Column("journey_stage", "Journey stage"), Column("score", "Score", "number"), Column("grade", "Grade"),
                Column("cx_answer", "Latest CX answer"), Column("cx_at", "Answered", "when"),
                Column("event_count", "Touchpoints", "number"), Column("last_seen", "Last seen", "when"),
                Column("contact_id", "Id")], members,
                note="Scores are updated as events arrive; the CX answer is the person's latest survey answer."),
            timeline_table(tl, with_contact=True),
            history_table(view["stage_history"], with_contact=True),
            mix_table(view["channel_mix"]),
        ]
        panels = panel_tables(site.ws, "account", view["account"]["account_id"])
        tables += [t for _, ts in panels for t in ts]
        chart = {
            "activity": charts.stacked_weekly("Touchpoints per week by channel", tl["weekly"]),
            "channels": charts.bars("Touchpoints by channel", [m["channel"] for m in view["channel_mix"]],
                                    [m["events"] for m in view["channel_mix"]]),
        }
        name = view["account"]["name"] or view["account"]["account_id"]
        return _respond(site, request, export, tables, f"account-{view['account']['account_id']}", "account.html",
                        title=name, view=view, tl=tl, filters=filters, options=filter_options,
                        map=buying_map(members), charts=chart, panels=panels)

    @api.get("/contacts/{key}")
    def contact(
        request: Request,
        key: str,
        user: Annotated[users.SignedIn, Depends(reader)],
        filters: Annotated[TimelineFilters, Depends()],
        export: str | None = None,
        done: str | None = None,
    ) -> Response:
        """Profile, identities, stage history, merges, channel mix and timeline of one contact."""
        view = profiles.contact_view(site.ws.store, key, limit=1)  # GET /v1/contacts/{key}
        tl = filters.run(site, "contact", view["contact"]["contact_id"], export)  # GET /v1/contacts/{key}/timeline
        tables = [
            timeline_table(tl, with_contact=False),
            history_table(view["stage_history"], with_contact=False),
            mix_table(view["channel_mix"]),
            Table("merges", "Merges", [Column("merge_id", "Merge"), Column("ts", "When", "when"),
                  Column("survivor_identity", "Kept"), Column("merged_identity", "Merged in"),
                  Column("cause", "Cause")], view["merges"], empty="No merges."),
        ]
        c = view["contact"]
        panels = panel_tables(site.ws, "contact", c["contact_id"])
        tables += [t for _, ts in panels for t in ts]
        chart = {
            "activity": charts.stacked_weekly("Touchpoints per week by channel", tl["weekly"]),
            "channels": charts.bars("Touchpoints by channel", [m["channel"] for m in view["channel_mix"]],
                                    [m["events"] for m in view["channel_mix"]]),
        }
        return _respond(site, request, export, tables, f"contact-{c['contact_id']}", "contact.html",
                        title=c["name"] or c["email"] or "Anonymous visitor", view=view, tl=tl, filters=filters,
                        options=filter_options, charts=chart, panels=panels, done=_empty(done))

    @api.post("/contacts/{key}/lead")
    async def decide_lead(
        request: Request,
        key: str,
        user: Annotated[users.SignedIn, Depends(site.needs("write"))],
        decision: Annotated[str, Form(pattern="^(accept|reject)$")],
        reason: Annotated[str, Form(min_length=1, max_length=500)],
        csrf: Annotated[str, Form(max_length=128)],
    ) -> Response:
        """Sales accepts or rejects a lead (marketer or admin), as POST /v1/contacts/{key}/lead does."""
        site.check_form(request, user, csrf)
        await site.write(request, lambda: site.ws.decide_lead(key, decision, reason=reason, by=user.name))
        contact_id = await run_in_threadpool(profiles.find_contact_id, site.ws.store, key)
        return RedirectResponse(f"/contacts/{contact_id}?done={decision}ed", status_code=303)

    return api
