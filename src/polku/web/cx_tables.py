"""The CX pages' tables and charts, arranged from what the ``/v1/cx`` functions answer (pure: dicts in, tables out).

Targets (``GET /v1/cx/targets``), scores (``GET /v1/cx/scores``), surveys (``GET /v1/cx/surveys``
and ``/surveys/{id}``) with their answers, accounts at risk (``GET /v1/cx/risks``), alerts
(``GET /v1/cx/alerts``), account health (``GET /v1/cx/accounts/{key}/health``) and a contact's
answers (``GET /v1/cx/contacts/{key}/answers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from polku.web import cx_charts
from polku.web.cx_charts import Dot
from polku.web.tables import Column, Row, Table

STATUS_TEXT: Final = {"met": "met", "missed": "missed", "uncertain": "uncertain", "not_enough_data": "not enough data"}
TREND_TEXT: Final = {"improving": "improving", "worsening": "worsening", "steady": "steady", "unknown": "unknown"}
GROUP_LABELS: Final = {"role": "Role", "org_level": "Organisational level", "phase": "Journey phase",
                       "survey": "Survey", "language": "Language", "trigger_type": "Triggering touchpoint"}
SIGNAL_TEXT: Final = {"recent": "recent signal", "stale": "stale signal", "old": "old signal", "none": "no signal",
                      "nobody": "nobody known"}


@dataclass(frozen=True)
class Measure:
    """How a measure is shown: its name, unit and the range of its axis."""

    name: str
    label: str
    unit: str
    low: float
    high: float


MEASURES: Final[dict[str, Measure]] = {m.name: m for m in (
    Measure("nps", "NPS", "points, −100 to 100", -100, 100),
    Measure("csat", "CSAT", "% satisfied (4-5 of 5)", 0, 100),
    Measure("ces", "CES", "mean of 1-7", 1, 7),
    Measure("csat_mean", "CSAT mean", "mean of 1-5", 1, 5),
)}
HEADLINE: Final = ("nps", "csat", "ces")  # the measures drawn; csat_mean is in the tables
SCALES: Final = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}  # the answer scales of the distributions


def num(key: str, label: str) -> Column:
    """A number column."""
    return Column(key, label, "number")


def account_link(row: Row) -> str | None:
    """The account 360° page of a row with an account_id."""
    return f"/accounts/{row['account_id']}" if row.get("account_id") else None


def contact_link(row: Row) -> str | None:
    """The contact 360° page of a row with a contact_id."""
    return f"/contacts/{row['contact_id']}" if row.get("contact_id") else None


def label(measure: str) -> str:
    """A measure's short name (NPS, CSAT, …); custom scales keep their id."""
    m = MEASURES.get(measure)
    return m.label if m else measure


def _ci(estimate: Mapping[str, Any]) -> tuple[float | None, float | None]:
    ci = estimate.get("ci") or [None, None]
    return ci[0], ci[1]


def goal_text(dim: Mapping[str, Any]) -> str:
    """A dimension's target in words, e.g. "≥ 30"."""
    return ("≥ " if dim["direction"] == "at_least" else "≤ ") + f"{dim['target']:g}"


# ---- targets ---------------------------------------------------------------------------------
def targets_table(result: Mapping[str, Any]) -> Table:
    """One row per target and dimension: measured value, interval, n, gap, status and trend."""
    rows = []
    for t in result["targets"]:
        for d in t["dimensions"]:
            low, high = _ci(d)
            tr = d["trend"]
            flag = f"not enough data: {d['n']} of {d['min_n']} answers needed" if d["not_enough_data"] else ""
            rows.append({
                "target_id": t["id"], "title": t["title"], "attribution": t["attribution"], "scope": t["scope"],
                "measure": label(d["measure"]), "goal": goal_text(d), "value": d["value"], "ci_low": low,
                "ci_high": high, "n": d["n"], "min_n": d["min_n"], "gap": d["gap"], "status": d["status"],
                "status_text": STATUS_TEXT.get(d["status"], d["status"]), "flag": flag,
                "trend": TREND_TEXT.get(tr["direction"], tr["direction"]), "change": tr.get("change"),
                "recent": (tr.get("recent") or {}).get("value"), "previous": (tr.get("previous") or {}).get("value"),
                "trend_days": tr.get("window_days"), "unit": d["unit"],
            })
    return Table("targets", "Target experiences", [
        Column("title", "Target"), Column("attribution", "Whose experience"), Column("scope", "Where"),
        Column("measure", "Measure"), Column("goal", "Target"), num("value", "Measured"),
        num("ci_low", "Interval from"), num("ci_high", "Interval to"), num("n", "Answers"), num("gap", "Gap"),
        Column("status_text", "Status"), Column("flag", "Enough data?"), Column("trend", "Trend"),
        num("change", "Change"), num("recent", "Recent window"), num("previous", "Window before"),
        Column("target_id", "Id")], rows,
        note=(f"As of {str(result['as_of'])[:16]} UTC. The gap is how far the value is on the good side of the "
              "target (negative: short of it). Met or missed only when the whole interval is on one side; "
              "the trend compares the last window with the one before and counts a change only when it is "
              "larger than its own interval."),
        empty="No target experiences: add them to cx.yaml in the workspace folder (see the CX measurement chapter).")


def target_months_table(result: Mapping[str, Any]) -> Table:
    """Each target dimension's value per calendar month, with its interval and n."""
    rows = []
    for t in result["targets"]:
        for d in t["dimensions"]:
            for m in d.get("by_month", []):
                low, high = _ci(m)
                rows.append({"target_id": t["id"], "title": t["title"], "measure": label(d["measure"]),
                             "month": m["month"], "value": m["value"], "ci_low": low, "ci_high": high, "n": m["n"]})
    return Table("target_months", "Targets by month", [
        Column("title", "Target"), Column("measure", "Measure"), Column("month", "Month"), num("value", "Measured"),
        num("ci_low", "Interval from"), num("ci_high", "Interval to"), num("n", "Answers"),
        Column("target_id", "Id")], rows, empty="No answers in the targets' scopes yet.")


def target_charts(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per measure: each target's measured value with its interval and the target; and by month when there are months."""
    out = []
    measures = list(dict.fromkeys(d["measure"] for t in result["targets"] for d in t["dimensions"]))
    for name in measures:
        m = MEASURES.get(name)
        if m is None:
            continue
        dims = [(t, d) for t in result["targets"] for d in t["dimensions"] if d["measure"] == name]
        dots = [Dot(t["title"], d["value"], *_ci(d), n=d["n"], few=d["not_enough_data"], target=d["target"])
                for t, d in dims]
        caption = (f"{m.label} ({m.unit}) of each target: the dot is the measured value, the whisker its "
                   f"interval, the diamond the target; grey dots have too few answers")
        chart = {"id": f"chart-targets-{name}", "caption": caption, "height": cx_charts.height_for(len(dots)),
                 "option": cx_charts.dot_plot(f"{m.label} of the targets", dots, low=m.low, high=m.high)}
        months = sorted({x["month"] for _, d in dims for x in d.get("by_month", [])})
        if len(months) >= 2:
            series = {}
            for t, d in dims:
                by = {x["month"]: x["value"] for x in d.get("by_month", [])}
                series[t["title"]] = [by.get(month) for month in months]
            chart["monthly"] = {
                "id": f"chart-target-months-{name}",
                "caption": f"{m.label} of each target by month; the dashed line is the target",
                "option": cx_charts.monthly(f"{m.label} by month", months, series,
                                            {t["title"]: d["target"] for t, d in dims})}
        out.append(chart)
    return out


# ---- scores ----------------------------------------------------------------------------------
def score_rows(overall: Mapping[str, Any], grouped: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per group and measure: all answers first, then each group of the breakdown."""
    by = grouped["by"] if grouped else None
    parts: list[tuple[str, str, Mapping[str, Any]]] = [("all", "All answers", r) for r in overall["rows"]]
    if grouped:
        parts += [(by or "", str(r.get(by, "")).replace("_", " "), r) for r in grouped["rows"]]
    rows = []
    for kind, name, r in parts:
        for key, m in MEASURES.items():
            est = r.get(key)
            if not est or est.get("n", 0) == 0:
                continue
            low, high = _ci(est)
            rows.append({"breakdown": GROUP_LABELS.get(kind, "All"), "group": name, "measure": m.label,
                         "measure_id": key, "value": est["value"], "ci_low": low, "ci_high": high, "n": est["n"],
                         "few": "yes" if est["small_sample"] else "no", "unit": m.unit,
                         "ignored": est.get("ignored", 0)})
    return rows


def scores_table(overall: Mapping[str, Any], grouped: Mapping[str, Any] | None) -> Table:
    """NPS, CSAT and CES with intervals and n, overall and per group of the breakdown."""
    by = grouped["by"] if grouped else None
    title = "Scores" + (f" by {GROUP_LABELS.get(by or '', by or '').lower()}" if by else "")
    confidence = round(100 * float(overall["confidence"]))
    return Table("scores", title, [
        Column("breakdown", "Breakdown"), Column("group", "Group"), Column("measure", "Measure"),
        num("value", "Value"), num("ci_low", f"{confidence}% interval from"), num("ci_high", "Interval to"),
        num("n", "Answers"), Column("few", f"Fewer than {overall['min_n']}"), Column("unit", "Unit")],
        score_rows(overall, grouped),
        note=(f"{overall['answers']:,} answers. NPS is % promoters (9-10) minus % detractors (0-6); CSAT the share "
              "of 4-5 answers; CES the mean of 1-7. Intervals: multinomial normal (NPS), Wilson (CSAT), t (means)."),
        empty="No survey answers yet.")


def score_charts(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per headline measure, a dot plot of all answers and each group, with intervals."""
    out = []
    for key in HEADLINE:
        m = MEASURES[key]
        mine = [r for r in rows if r["measure_id"] == key]
        if not mine:
            continue
        dots = [Dot(r["group"] if r["breakdown"] == "All" else f"{r['group']} (n={r['n']})" if r["few"] == "yes"
                    else r["group"], r["value"], r["ci_low"], r["ci_high"], n=r["n"], few=r["few"] == "yes")
                for r in mine]
        out.append({"id": f"chart-scores-{key}", "height": cx_charts.height_for(len(dots)),
                    "caption": f"{m.label} ({m.unit}) with its interval; grey: fewer answers than needed",
                    "option": cx_charts.dot_plot(m.label, dots, low=m.low, high=m.high)})
    return out


# ---- surveys ---------------------------------------------------------------------------------
def survey_link(row: Row) -> str | None:
    """The dashboard page of a row's survey."""
    return f"/cx/surveys/{row['id']}" if row.get("id") else None


def _pct(part: float | None, whole: float | None = 1.0) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * float(part) / float(whole), 1)


def answered_surveys(answers: Any) -> dict[str, dict[str, Any]]:
    """Per survey id in the answers: answer events, people, the last answer and the measures asked."""
    out: dict[str, dict[str, Any]] = {}
    if answers.empty:
        return out
    frame = answers[answers["survey"].notna()]
    for survey, part in frame.groupby("survey", sort=True):
        out[str(survey)] = {"responses": int(part["event_id"].nunique()), "people": int(part["contact_id"].nunique()),
                            "last_answer": part["ts"].max().to_pydatetime(),
                            "measures": sorted(part["measure"].dropna().unique().tolist())}
    return out


def surveys_table(summaries: Sequence[Mapping[str, Any]], seen: Mapping[str, Mapping[str, Any]]) -> Table:
    """Every survey (the definitions' counts from GET /v1/cx/surveys, and surveys only seen in answers)."""
    rows = []
    defined = {s["id"] for s in summaries}
    for s in summaries:
        a = seen.get(s["id"], {})
        rows.append({**s, "languages": ", ".join(s.get("languages") or []),
                     "measures": ", ".join(label(m) for m in s.get("measures") or []),
                     "response_rate": _pct(s.get("answered"), s.get("invites")),
                     "responses": a.get("responses", 0), "last_answer": a.get("last_answer"), "defined": "yes"})
    for survey_id, a in seen.items():
        if survey_id in defined:
            continue
        rows.append({"id": survey_id, "title": None, "languages": "", "invites": None, "answered": None,
                     "response_rate": None, "open": None, "measures": ", ".join(label(m) for m in a["measures"]),
                     "responses": a["responses"], "last_answer": a["last_answer"],
                     "defined": "no: answers only"})
    return Table("surveys", "Surveys", [
        Column("id", "Survey", href=survey_link), Column("title", "Title"), Column("languages", "Languages"),
        Column("measures", "Measures"), num("invites", "Invited"), num("answered", "Answered invitations"),
        num("response_rate", "Response rate (%)"), num("open", "Still open"), num("responses", "Answers received"),
        Column("last_answer", "Last answer", "when"), Column("defined", "Defined in surveys/")], rows,
        note=("Invited, answered and open count invitations (links); answers received counts survey_answered "
              "touchpoints, including answers imported or tracked without an invitation."),
        empty="No surveys: add one under surveys/ in the workspace folder (see the surveys chapter).")


def survey_facts(detail: Mapping[str, Any] | None, survey_id: str, seen: Mapping[str, Any] | None) -> Table:
    """One survey's definition facts and counts (GET /v1/cx/surveys/{id}) as a list of facts."""
    d = detail or {}
    a = seen or {}
    row = {
        "id": survey_id, "title": d.get("title"), "languages": ", ".join(d.get("languages") or []) or None,
        "questions": d.get("questions"), "measures": ", ".join(label(m) for m in (d.get("measures") or a.get("measures") or [])),
        "invites": d.get("invites"), "answered": d.get("answered"), "response_rate": _pct(d.get("response_rate")),
        "open": d.get("open"), "expired": d.get("expired"), "responses": a.get("responses", 0),
        "people": a.get("people", 0), "last_answer": a.get("last_answer"),
    }
    return Table("survey", "Invitations and answers", [
        Column("id", "Survey"), Column("title", "Title"), Column("languages", "Languages"),
        num("questions", "Questions"), Column("measures", "Measures"), num("invites", "Invited"),
        num("answered", "Answered invitations"), num("response_rate", "Response rate (%)"), num("open", "Still open"),
        num("expired", "Expired unanswered"), num("responses", "Answers received"), num("people", "People who answered"),
        Column("last_answer", "Last answer", "when")], [row], extra={"facts": True},
        note="" if detail else "This survey has no definition under surveys/: only its answers are known.")


def channels_table(detail: Mapping[str, Any] | None) -> Table:
    """Invitations and answered invitations by channel and language."""
    rows = [{**r, "response_rate": _pct(r.get("answered"), r.get("invites"))} for r in (detail or {}).get("by_channel", [])]
    return Table("channels", "By channel and language", [
        Column("channel", "Channel"), Column("language", "Language"), num("invites", "Invited"),
        num("answered", "Answered"), num("response_rate", "Response rate (%)")], rows,
        empty="No invitations sent for this survey.")


def distribution_rows(answers: Any) -> list[dict[str, Any]]:
    """Answers per measure and score value (every value of a standard scale, zeros included)."""
    rows = []
    if answers.empty:
        return rows
    for measure, part in answers.groupby("measure", sort=False):
        counts = part["score"].round().astype(int).value_counts().to_dict()
        low, high = SCALES.get(str(measure), (min(counts), max(counts)))
        total = int(sum(counts.values()))
        for score in range(int(low), int(high) + 1):
            k = int(counts.get(score, 0))
            rows.append({"measure_id": str(measure), "measure": label(str(measure)), "score": score, "answers": k,
                         "share": _pct(k, total)})
    order = {k: i for i, k in enumerate(SCALES)}
    rows.sort(key=lambda r: (order.get(r["measure_id"], 99), r["measure_id"], r["score"]))
    return rows


def distribution_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The score distribution of a survey's answers."""
    return Table("distribution", "Score distribution", [
        Column("measure", "Measure"), num("score", "Score"), num("answers", "Answers"), num("share", "Share (%)")],
        list(rows), empty="No scores answered yet.")


def distribution_charts(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One bar chart of answers per score value for each measure."""
    out = []
    for measure in dict.fromkeys(r["measure_id"] for r in rows):
        mine = [r for r in rows if r["measure_id"] == measure]
        counts = {int(r["score"]): int(r["answers"]) for r in mine}
        words = " (red: detractors 0-6, amber: passives 7-8, green: promoters 9-10)" if measure == "nps" else ""
        out.append({"id": f"chart-dist-{measure}", "caption": f"{label(measure)}: answers per score{words}",
                    "option": cx_charts.distribution(f"{label(measure)} answers per score", measure, counts)})
    return out


def comment_rows(answers: Any, names: Mapping[str, str | None], limit: int) -> list[dict[str, Any]]:
    """The latest answers with a comment (one row per answer), newest first."""
    if answers.empty:
        return []
    with_text = answers[answers["comment"].notna()].sort_values("ts", ascending=False)
    rows = []
    for event_id, part in with_text.groupby("event_id", sort=False):
        first = part.iloc[0]
        rows.append({"ts": first["ts"].to_pydatetime(), "contact_id": first["contact_id"],
                     "contact_name": names.get(str(first["contact_id"])) or first["contact_id"],
                     "account_id": first["account_id"], "role": first["role"], "org_level": first["org_level"],
                     "scores": ", ".join(f"{label(m)} {s:g}" for m, s in zip(part["measure"], part["score"], strict=True)),
                     "language": first["language"], "comment": first["comment"], "event_id": event_id})
    rows.sort(key=lambda r: r["ts"], reverse=True)
    return rows[:limit]


def comments_table(rows: Sequence[Mapping[str, Any]], limit: int) -> Table:
    """The latest comments of a survey (shown as text, never as HTML)."""
    return Table("comments", "Latest comments", [
        Column("ts", "When", "when"), Column("contact_name", "Who", href=contact_link),
        Column("role", "Role"), Column("org_level", "Level"), Column("scores", "Scores"),
        Column("language", "Language"), Column("comment", "Comment"), Column("account_id", "Account", href=account_link),
        Column("event_id", "Event id")], list(rows),
        note=f"The latest {limit} answers with a comment.", empty="No comments yet.")


# ---- risks and alerts ------------------------------------------------------------------------
def risks_table(rows: Sequence[Mapping[str, Any]], below: float) -> Table:
    """Accounts at risk, worst first, with their reasons (GET /v1/cx/risks)."""
    shown = [{**r, "reasons_text": "; ".join(r["reasons"])} for r in rows]
    return Table("risks", "Accounts at risk", [
        Column("name", "Account", href=account_link), Column("owner", "Owner"), Column("stage", "Stage"),
        num("health", "Health (0-100)"), num("drop", "Points lost"), num("risk", "Risk"),
        Column("reasons_text", "Why"), Column("account_id", "Id")], shown,
        note=(f"Health under {below:g}, or falling fast; risk is 100 minus health plus the points lost. Only accounts "
              "whose health rests on more than activity (answers, tickets, deliveries or devices) are listed."),
        empty="No account is at risk.")


def _last(actions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return actions[-1] if actions else {}


def alert_rows(alerts: Iterable[Mapping[str, Any]], accounts: Mapping[str, str | None],
               contacts: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Alerts with the account's and the person's names and their latest action."""
    rows = []
    for a in alerts:
        last = _last(a.get("actions") or [])
        rows.append({**a, "account_name": accounts.get(str(a.get("account_id"))) or a.get("account_id"),
                     "contact_name": contacts.get(str(a.get("contact_id"))) or a.get("contact_id"),
                     "last_action": " · ".join(str(x) for x in (last.get("action"), last.get("by"), last.get("note")) if x),
                     "actions_count": len(a.get("actions") or [])})
    return rows


def alerts_table(rows: Sequence[Mapping[str, Any]], status: str | None) -> Table:
    """CX alerts, newest first, with status and the latest action (GET /v1/cx/alerts)."""
    return Table("alerts", "Alerts" + (f" ({status})" if status else ""), [
        Column("created_at", "Raised", "when"), Column("kind", "Kind"),
        Column("alert_id", "Alert", href=lambda r: f"/cx/alerts/{r['alert_id']}"),
        Column("account_name", "Account", href=account_link), Column("contact_name", "Person", href=contact_link),
        Column("reason", "Why"), Column("owner", "Owner"), Column("status", "Status"),
        Column("last_action", "Latest action"), num("actions_count", "Actions"), Column("updated_at", "Updated", "when"),
        Column("account_id", "Account id"), Column("contact_id", "Contact id")], list(rows),
        note="A detractor answer or a falling health score raises an alert to the account's owner (`polku cx tick`).",
        empty="No alerts" + (f" that are {status}." if status else "."))


def alert_facts(alert: Mapping[str, Any], account_name: str | None, contact_name: str | None) -> Table:
    """One alert as a list of facts."""
    row = {**alert, "account_name": account_name or alert.get("account_id"),
           "contact_name": contact_name or alert.get("contact_id")}
    return Table("alert", "Alert", [
        Column("reason", "Why"), Column("kind", "Kind"), Column("status", "Status"),
        Column("account_name", "Account"), Column("contact_name", "Person"), Column("owner", "Owner"),
        Column("journey_id", "Journey"), Column("created_at", "Raised", "when"), Column("updated_at", "Updated", "when"),
        Column("alert_id", "Alert"), Column("account_id", "Account id"), Column("contact_id", "Contact id"),
        Column("event_id", "Answer event")], [row], extra={"facts": True})


def actions_table(alert: Mapping[str, Any]) -> Table:
    """An alert's log of actions, oldest first."""
    return Table("actions", "What was done", [
        Column("at", "When", "when"), Column("by", "By"), Column("action", "Action"), Column("note", "Note")],
        list(alert.get("actions") or []), empty="Nothing was done yet.")


# ---- account health and a contact's answers (the 360° panels) ---------------------------------
def health_facts(card: Mapping[str, Any], at_risk_below: float) -> Table:
    """An account's health card in a few facts."""
    health = card.get("health")
    row = {"health": health, "coverage_pct": _pct(card.get("coverage")), "drop": card.get("drop"),
           "as_of": card.get("as_of"),
           "at_risk": None if health is None else ("yes" if health < at_risk_below else "no")}
    return Table("cx_health", "CX health score", [
        num("health", "Health (0-100)"), Column("at_risk", f"Under {at_risk_below:g}"),
        num("coverage_pct", "Weight with data (%)"), num("drop", f"Points lost in {card.get('drop_days')} days"),
        Column("as_of", "As of", "when")], [row],
        extra={"facts": True},
        note=("What the account's people say (NPS, CSAT, CES) and do (activity, tickets, deliveries, devices), "
              "each against the other accounts: 50 is typical."))


def components_table(card: Mapping[str, Any]) -> Table:
    """The health components: score 0-100, weight, evidence and reason; with a bar chart of the scores."""
    comps = list(card.get("components") or [])
    rows = [{**c, "label": label(c["name"]) if c["name"] in MEASURES else c["name"]} for c in comps]
    chart = cx_charts.components("Health components (0-100; 50 is the typical account)",
                                 [r["label"] for r in rows], [float(r["score"]) for r in rows]) if rows else None
    return Table("cx_components", "Health components", [
        Column("label", "Component"), num("score", "Score (0-100)"), num("weight", "Weight"), num("n", "Evidence"),
        Column("tone", "Tone"), Column("reason", "Why"), Column("name", "Id")], rows,
        extra={"chart": chart, "chart_height": 60 + 30 * len(rows)},
        empty="No component has data for this account.")


def reasons_table(card: Mapping[str, Any]) -> Table:
    """The reasons of an account's health, concerns first, then the touchpoint network's gaps."""
    return Table("cx_reasons", "Why this health", [Column("reason", "Reason")],
                 [{"reason": r} for r in card.get("reasons") or []], empty="No reasons.")


def network_table(grid: Mapping[str, Any]) -> Table:
    """The touchpoint network as rows of (level, role) cells; ``extra.grid`` lays them out as a grid."""
    rows = [cell for level in grid["levels"] for cell in (grid["cells"][level][r] for r in grid["roles"])]
    return Table("cx_network", "Touchpoint network", [
        Column("org_level", "Level"), Column("role_label", "Role"), num("contacts", "People known"),
        num("heard_from", "Heard from"), num("touches", "Touches"), num("answers", "Survey answers"),
        Column("last_heard", "Last heard", "when"), Column("signal_text", "Signal")], rows,
        extra={"grid": grid},
        note=(f"Whom we hear from, by organisational level and role: recent is within {grid['recent_days']} days, "
              f"stale within {grid['lookback_days']}, old before that. Touches are the people's own actions."))


def answers_table(result: Mapping[str, Any]) -> Table:
    """A contact's survey answers, newest first: one row per answer with its scores (GET /v1/cx/contacts/{key}/answers)."""
    by_event: dict[str, dict[str, Any]] = {}
    for a in result["answers"]:
        row = by_event.setdefault(a["event_id"], {
            **{k: a[k] for k in ("event_id", "ts", "survey", "comment", "language", "trigger_type", "phase", "role",
                                 "org_level")}, "scores": [], "nps": None, "csat": None, "ces": None})
        row["scores"].append(f"{label(a['measure'])} {a['score']:g}")
        if a["measure"] in ("nps", "csat", "ces"):
            row[a["measure"]] = a["score"]
    rows = [{**r, "scores": ", ".join(r["scores"])} for r in by_event.values()]
    rows.sort(key=lambda r: r["ts"], reverse=True)
    return Table("cx_answers", "Survey answers", [
        Column("ts", "When", "when"), Column("survey", "Survey", href=lambda r: f"/cx/surveys/{r['survey']}"
                                             if r.get("survey") else None),
        Column("scores", "Scores"), num("nps", "NPS answer"), num("csat", "CSAT answer"), num("ces", "CES answer"),
        Column("comment", "Comment"), Column("language", "Language"), Column("trigger_type", "After"),
        Column("phase", "Phase"), Column("event_id", "Event id")], rows,
        note="Latest first; role and level as recorded with the answer.", empty="This person has not answered a survey.")
