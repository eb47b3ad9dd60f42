"""The score and journeys panels of the account and contact 360° pages.

Each panel calls what the matching ``/v1`` route calls and arranges the answer into tables:
the contact's score card is ``Workspace.leads.contact`` (``GET /v1/contacts/{key}/score``),
the account's is its stored card (``GET /v1/accounts/{key}/score``), the journeys are the
contact's enrolments (``GET /v1/contacts/{key}/journeys``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from polku.nurture.views import enrolments_for_contact
from polku.web.pages import Panel, Registry, has_rows
from polku.web.tables import Column, Table

if TYPE_CHECKING:
    from polku.workspace import Workspace

NO_SCORE = "No score yet: `polku score` (or a rescore) scores every contact and account."


def has_scores(ws: Workspace) -> bool:
    """Whether the workspace has been scored (so the score panels have something to show)."""
    return has_rows(ws, "lead_scores") or has_rows(ws, "account_scores")


def has_enrolments(ws: Workspace) -> bool:
    """Whether any journey has enrolled anyone."""
    return has_rows(ws, "nurture_enrolments")


def _yes(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100.0 * float(value), 1)


def reasons_table(name: str, title: str, reasons: Sequence[Mapping[str, Any]], *, model: bool = False) -> Table:
    """The reasons of a score card, largest first, with their weight."""
    unit = "log-odds" if model else "points of the 0-100 score"
    return Table(name, title, [Column("text", "Why"), Column("weight", "Weight", "number"), Column("kind", "Kind"),
                 Column("factor", "Factor")], list(reasons),
                 note=f"Weights are {unit}; positive raises the score, negative lowers it.",
                 empty="No reasons: nothing raised or lowered this score.")


def contact_score_tables(ws: Workspace, contact_id: str) -> list[Table]:
    """The contact's score now (fit, engagement, combined, grade), the model's probability and the reasons."""
    card = ws.leads.contact(contact_id)
    row = {**card, "probability_percent": _percent(card.get("probability"))}
    facts = [Column("score", "Score (0-100)", "number"), Column("grade", "Grade"), Column("fit", "Fit", "number"),
             Column("engagement", "Engagement", "number")]
    if card.get("probability") is not None:
        facts.append(Column("probability_percent", "Model probability (%)", "number"))
    facts += [Column("as_of", "As of", "when"), Column("rescored_at", "Last rescore", "when")]
    return [
        Table("score", "Lead score", facts, [row], extra={"facts": True},
              note="Fit is who they are, engagement what they did lately; the grade is fit letter and engagement digit."),
        reasons_table("score_reasons", "Why this score", card["reasons"]),
    ]


def account_score_tables(ws: Workspace, account_id: str) -> list[Table]:
    """The account's score (rolled up at the latest refresh), its buying-group coverage and reasons."""
    from polku.store import scores as stored  # imports the scoring stack: only when a page shows a score

    card = stored.account_row(ws.store, account_id)
    coverage = (card or {}).get("coverage", {})
    row = {} if card is None else {
        **{k: card.get(k) for k in ("score", "grade", "fit", "engagement", "rescored_at")},
        "probability_percent": _percent(card.get("probability")),
        "contacts": coverage.get("contacts"), "active": coverage.get("active"),
        "decision_maker_engaged": _yes(coverage.get("decision_maker_engaged")),
        "executive_engaged": _yes(coverage.get("executive_engaged")),
        "roles": ", ".join(r.replace("_", " ") for r in coverage.get("roles", [])) or "none",
        "levels": ", ".join(coverage.get("levels", [])) or "none",
    }
    facts = [Column("score", "Score (0-100)", "number"), Column("grade", "Grade"), Column("fit", "Fit", "number"),
             Column("engagement", "Engagement", "number")]
    if card is not None and card.get("probability") is not None:
        facts.append(Column("probability_percent", "Model probability (%)", "number"))
    facts += [Column("contacts", "People", "number"), Column("active", "Active people", "number"),
              Column("decision_maker_engaged", "Decision-maker engaged"), Column("executive_engaged", "Executive engaged"),
              Column("roles", "Roles active"), Column("levels", "Levels active"), Column("rescored_at", "Last rescore", "when")]
    return [
        Table("account_score", "Account score and buying-group coverage", facts, [row] if card else [],
              extra={"facts": True}, empty=NO_SCORE,
              note="Rolled up at the latest refresh: the most engaged people's scores plus points for covering the buying group."),
        reasons_table("account_score_reasons", "Why this account score", (card or {}).get("reasons", [])),
    ]


def score_tables(ws: Workspace, subject: str, subject_id: str) -> list[Table]:
    """The score panel of an account or a contact."""
    return account_score_tables(ws, subject_id) if subject == "account" else contact_score_tables(ws, subject_id)


def journeys_tables(ws: Workspace, subject: str, subject_id: str) -> list[Table]:
    """The journeys a contact, or an account's people, are or were in (newest enrolment first)."""
    if subject == "account":
        people = ws.store.query("SELECT contact_id, coalesce(name, email) AS who FROM contacts WHERE account_id = ?",
                                [subject_id])
    else:
        people = [{"contact_id": subject_id, "who": None}]
    rows = [
        {**{k: e[k] for k in ("journey_id", "journey_name", "entry", "arm", "status", "step_id", "enrolled_at",
                              "goal_at", "ended_at", "end_reason")},
         "contact_id": p["contact_id"], "contact_name": p["who"], "messages": len(e["messages"])}
        for p in people for e in enrolments_for_contact(ws.store, p["contact_id"])
    ]
    rows.sort(key=lambda r: r["enrolled_at"], reverse=True)
    cols = [Column("journey_name", "Journey", href=lambda r: f"/journeys/{r['journey_id']}")]
    if subject == "account":
        cols.append(Column("contact_name", "Person", href=lambda r: f"/contacts/{r['contact_id']}"))
    cols += [Column("arm", "Arm"), Column("status", "Status"), Column("step_id", "At step"),
             Column("enrolled_at", "Enrolled", "when"), Column("goal_at", "Goal reached", "when"),
             Column("ended_at", "Ended", "when"), Column("end_reason", "Why it ended"),
             Column("messages", "Messages", "number"), Column("journey_id", "Journey id"), Column("contact_id", "Contact id")]
    return [Table("journeys", "Journeys", cols, rows, empty="Not in any journey.",
                  note="Arm “control” is the journey's holdout: enrolled, but sent nothing, to measure the lift.")]


def register(registry: Registry) -> None:
    """Add the score and journeys panels (once)."""
    for panel in (
        Panel("score", "Score", tables=score_tables, available=has_scores, place="top"),
        Panel("journeys", "Journeys", tables=journeys_tables, available=has_enrolments),
    ):
        if not any(p.slug == panel.slug for p in registry.panels):
            registry.add_panel(panel)
