"""Reasons in plain words: why a score is what it is, readable by a salesperson.

Rule scores explain themselves by their largest point contributions ("downloaded 3
documents in 14 days", "decision-maker"); the model by its per-feature contributions
(see ``polku.scoring.features.describe``). A reason always says how much it weighed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from polku.scoring.rules import EngagementRule, FitRule

ReasonKind = Literal["engagement", "fit", "activity", "model", "buying_group"]


@dataclass(frozen=True)
class Reason:
    """One contributing factor: what it is, the sentence shown, and its weight.

    ``weight`` is in points for rule scores and in log-odds for the model; positive raises
    the score, negative lowers it.
    """

    kind: ReasonKind
    factor: str  # the rule or feature name
    text: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"kind": self.kind, "factor": self.factor, "text": self.text, "weight": round(self.weight, 4)}


def plural(n: int | float, one: str, many: str | None = None) -> str:
    """"no meetings", "1 meeting", "3 meetings"."""
    k = int(round(n))
    return f"{'no' if k == 0 else k} {one if k == 1 else (many or one + 's')}"


# What one touchpoint of a type is, in words: (past-tense phrase with {n}, noun one, noun many).
_PHRASES: Final[dict[str, tuple[str, str, str]]] = {
    "page_view": ("viewed {n}", "page", "pages"),
    "content_download": ("downloaded {n}", "document", "documents"),
    "form_submit": ("submitted {n}", "form", "forms"),
    "demo_requested": ("requested {n}", "demo", "demos"),
    "email_open": ("opened {n}", "e-mail", "e-mails"),
    "email_click": ("clicked {n}", "e-mail link", "e-mail links"),
    "email_bounce": ("had {n}", "bounced e-mail", "bounced e-mails"),
    "unsubscribe": ("unsubscribed {n}", "time", "times"),
    "webinar_registered": ("registered for {n}", "webinar", "webinars"),
    "webinar_attended": ("attended {n}", "webinar", "webinars"),
    "event_attended": ("met us at {n}", "trade fair or seminar", "trade fairs or seminars"),
    "meeting_held": ("had {n}", "meeting", "meetings"),
    "call_held": ("had {n}", "phone call", "phone calls"),
    "portal_login": ("signed in to the portal {n}", "time", "times"),
    "social_engagement": ("engaged on social media {n}", "time", "times"),
    "quote_requested": ("requested {n}", "quote", "quotes"),
    "ticket_opened": ("opened {n}", "service ticket", "service tickets"),
    "ticket_closed": ("had {n}", "service ticket closed", "service tickets closed"),
    "product_usage": ("used the product {n}", "time", "times"),
    "sensor_reading": ("sent {n}", "sensor reading", "sensor readings"),
    "survey_answered": ("answered {n}", "survey", "surveys"),
    "email_sent": ("was sent {n}", "e-mail", "e-mails"),
}


def touches_phrase(event_type: str, count: int) -> str:
    """"downloaded 3 documents", "had 1 meeting"; a generic phrase for custom types."""
    verb, one, many = _PHRASES.get(event_type, ("{n}", event_type.replace("_", " "), event_type.replace("_", " ")))
    return verb.format(n=plural(count, one, many))


def span_phrase(days: int) -> str:
    """" in 14 days", " today"."""
    return " today" if days <= 1 else f" in {days} days"


def engagement_text(
    rule: EngagementRule, count: int, days: int, points: float, recent_days: int | None = None
) -> str:
    """The reason sentence of an engagement rule's contribution; ``recent_days`` is how far
    back matches are counted (None: all time)."""
    if count == 0:
        return f"{rule.name}: more than {recent_days} days ago"
    if rule.says:
        return rule.says.format(count=count, days=days, points=round(points, 1))
    if rule.types and len(rule.types) == 1 and not rule.properties:
        text = touches_phrase(rule.types[0], count)
        if rule.topics and len(rule.topics) == 1:
            text += f" on {rule.topics[0]}"
    else:
        text = f"{rule.name}: {plural(count, 'time')}"
    return text + span_phrase(days)


def _words(value: Any) -> str:
    return str(value).replace("_", "-" if str(value) == "decision_maker" else " ")


def fit_text(rule: FitRule, traits: Mapping[str, Any]) -> str:
    """The reason sentence of a fit rule that applied to these traits."""
    if rule.says:
        return rule.says
    value = traits.get(rule.field)
    if rule.field == "employees":
        return f"company of {int(value):,} employees" if value is not None else rule.name
    if rule.field == "role":
        return f"role: {_words(value)}"
    if rule.field == "org_level":
        return f"{_words(value)} level"
    if rule.field == "country":
        return f"based in {value}"
    return f"{rule.field.replace('_', ' ')}: {value}"


def inactivity_text(days: int | None) -> str:
    """"no activity for 60 days", or that nothing was ever recorded."""
    return "no activity recorded" if days is None else f"no activity for {days} days"
