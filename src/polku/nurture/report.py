"""A journey's report: enrolments, outcomes per step, and the lift on its goal versus the holdout."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from polku.errors import NotFound
from polku.model import utcnow
from polku.nurture import stats
from polku.nurture.definitions import Journey
from polku.nurture.duration import format_duration
from polku.store import nurture as sql
from polku.store.duck import DuckStore

MIN_ARM: Final[int] = 30  # fewer enrolments than this in an arm: too small to tell
MIN_EVENTS: Final[int] = 5  # fewer goal events (or non-events) than this in an arm: the interval is rough
_EMPTY: Final[dict[str, int]] = {
    "enrolled": 0, "active": 0, "completed": 0, "exited": 0, "ended_by_goal": 0, "goal_reached": 0, "matured": 0, "contacts": 0,
}


def journey_report(store: DuckStore, journey_id: str, *, now: datetime | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """Everything `polku nurture report` and GET /v1/journeys/{id}/report show."""
    row = sql.journey_row(store, journey_id)
    if row is None:
        raise NotFound(f"no journey {journey_id!r} has run in this workspace (see `polku nurture list`)")
    now = now or utcnow()
    journey = Journey.model_validate(json.loads(row["definition"]))
    within = journey.goal.within if journey.goal is not None else None
    arms = {r["arm"]: {k: int(v) for k, v in r.items() if k != "arm"} for r in sql.arm_counts(store, journey_id, within, now)}
    treated, control = arms.get("treatment", dict(_EMPTY)), arms.get("control", dict(_EMPTY))
    report: dict[str, Any] = {
        "journey": {"id": journey.id, "name": journey.title, "status": row["status"], "priority": journey.priority,
                    "holdout": journey.holdout},
        "enrolled": treated["enrolled"] + control["enrolled"],
        "active": treated["active"],
        "completed": treated["completed"],
        "exited": treated["exited"],
        "goal_reached": treated["goal_reached"] + control["goal_reached"],
        "arms": {"treatment": treated, "control": control},
        "goal": None,
        "lift": None,
        "verdict": None,
        "steps": _steps(store, journey),
        "warnings": [],
    }
    if journey.goal is None:
        report["warnings"].append("the journey has no goal, so there is no lift to measure")
        return report
    g = journey.goal
    report["goal"] = {
        "what": f"stage {g.stage}" if g.stage else " or ".join(g.types()) + (f" (topic {g.topic})" if g.topic else ""),
        "within": format_duration(g.within),
        "treatment_rate": _rate(treated), "control_rate": _rate(control),
    }
    report["warnings"] += _warnings(journey, treated, control)
    if treated["enrolled"] and control["enrolled"]:
        lift = stats.lift(treated["goal_reached"], treated["enrolled"], control["goal_reached"], control["enrolled"], confidence)
        report["lift"] = {
            "estimate": lift.estimate, "low": lift.low, "high": lift.high, "confidence": confidence,
            "method": "difference of proportions, Newcombe hybrid score interval (Wilson)",
        }
        report["verdict"] = _verdict(lift)
    return report


def _rate(arm: dict[str, int]) -> float | None:
    return arm["goal_reached"] / arm["enrolled"] if arm["enrolled"] else None


def _warnings(journey: Journey, treated: dict[str, int], control: dict[str, int]) -> list[str]:
    out = []
    if journey.holdout == 0 and not control["enrolled"]:
        out.append("the journey has no holdout (holdout: 0), so its effect cannot be told from what would have happened anyway")
        return out
    if min(treated["enrolled"], control["enrolled"]) < MIN_ARM:
        out.append(
            f"the sample is too small to tell: {treated['enrolled']} in the journey and {control['enrolled']} in the holdout "
            f"(at least {MIN_ARM} in each are needed for a useful interval)"
        )
    elif any(min(a["goal_reached"], a["enrolled"] - a["goal_reached"]) < MIN_EVENTS for a in (treated, control)):
        out.append(f"an arm has fewer than {MIN_EVENTS} contacts who reached the goal (or who did not): the interval is rough")
    total = treated["enrolled"] + control["enrolled"]
    if total and (treated["matured"] + control["matured"]) < total / 2:
        out.append("most enrolments are still inside their goal window: the rates will rise as time passes")
    return out


def _verdict(lift: stats.Lift) -> str:
    pts = f"{lift.estimate * 100:+.1f} points ({lift.confidence:.0%} CI {lift.low * 100:+.1f} to {lift.high * 100:+.1f})"
    if lift.low > 0:
        return f"the journey raised the goal rate: {pts}"
    if lift.high < 0:
        return f"the journey lowered the goal rate: {pts}"
    return f"no effect shown: {pts}; the interval includes zero"


def _steps(store: DuckStore, journey: Journey) -> list[dict[str, Any]]:
    outcomes: dict[str, dict[str, int]] = {}
    mail: dict[str, dict[str, int]] = {}
    for r in sql.step_counts(store, journey.id):
        if "mail" in r:
            mail[r["step_id"]] = {k: int(v) for k, v in r["mail"].items() if k != "step_id"}
        else:
            outcomes.setdefault(r["step_id"], {})[r["outcome"]] = int(r["n"])
    out = []
    for s in journey.steps:
        done = outcomes.get(s.id, {})
        entry: dict[str, Any] = {"step_id": s.id, "kind": s.kind, "ran": sum(done.values()), "outcomes": done}
        if s.kind in ("send", "notify_owner", "webhook"):
            entry.update(mail.get(s.id, {"queued": 0, "sent": 0, "not_sent": 0, "opened": 0, "clicked": 0}))
        out.append(entry)
    return out
