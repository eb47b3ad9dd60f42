"""The domain records and the rules every touchpoint must satisfy, defined once.

The HTTP API validates items with the pydantic models here; file import validates
whole columns in SQL with the same constants (see ``polku.collect.columns``).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Channel(StrEnum):
    """Where a touchpoint happened."""

    web = "web"
    email = "email"
    portal = "portal"
    event = "event"  # trade fairs, webinars, seminars
    meeting = "meeting"
    phone = "phone"
    service = "service"
    social = "social"
    product = "product"  # usage and sensor readings
    crm = "crm"  # records synchronised from a CRM or typed in by staff
    other = "other"


CHANNELS: Final[frozenset[str]] = frozenset(c.value for c in Channel)


class LifecycleStage(StrEnum):
    """The lead funnel of DOMAIN.md section 4, in order."""

    visitor = "visitor"
    suspect = "suspect"
    prospect = "prospect"
    lead = "lead"
    opportunity = "opportunity"
    customer = "customer"


STAGE_ORDER: Final[tuple[str, ...]] = tuple(s.value for s in LifecycleStage)
STAGE_RANK: Final[dict[str, int]] = {s: i for i, s in enumerate(STAGE_ORDER)}


class JourneyStage(StrEnum):
    """Where an account or contact is in its buying journey."""

    pre_purchase = "pre_purchase"
    purchase = "purchase"
    post_purchase = "post_purchase"


class Role(StrEnum):
    """A contact's part in the buying group."""

    decision_maker = "decision_maker"
    influencer = "influencer"
    user = "user"
    purchaser = "purchaser"
    executive = "executive"
    champion = "champion"
    gatekeeper = "gatekeeper"
    other = "other"


class OrgLevel(StrEnum):
    """Organisational level of a contact in the customer firm."""

    executive = "executive"
    management = "management"
    operational = "operational"


# The standard vocabulary: event type -> (usual channel, what it means). Custom types
# are allowed too; they only have to be snake_case names.
STANDARD_EVENTS: Final[dict[str, tuple[str, str]]] = {
    "identify": ("web", "an anonymous id was linked to an e-mail or CRM id, with traits"),
    "page_view": ("web", "a page of the web site or portal was viewed"),
    "form_submit": ("web", "a web form was submitted"),
    "content_download": ("web", "a document (guide, white paper, price list) was downloaded"),
    "demo_requested": ("web", "a product demonstration was requested"),
    "email_sent": ("email", "an e-mail was sent to the contact"),
    "email_open": ("email", "an e-mail was opened"),
    "email_click": ("email", "a link in an e-mail was clicked"),
    "email_bounce": ("email", "an e-mail could not be delivered"),
    "unsubscribe": ("email", "the contact unsubscribed from marketing e-mail"),
    "webinar_registered": ("event", "registered for a webinar"),
    "webinar_attended": ("event", "attended a webinar"),
    "event_attended": ("event", "met us at a trade fair or seminar"),
    "meeting_held": ("meeting", "a meeting with sales or service took place"),
    "call_held": ("phone", "a phone call took place"),
    "portal_login": ("portal", "signed in to the customer portal"),
    "social_engagement": ("social", "liked, shared or commented on social media"),
    "lead_qualified": ("crm", "marketing judged the contact sales-ready (MQL)"),
    "sales_accepted": ("crm", "sales accepted the lead (SAL)"),
    "lead_rejected": ("crm", "sales rejected the lead; the contact returns to prospect"),
    "quote_requested": ("web", "a quote or offer was requested"),
    "order_placed": ("crm", "an order was placed; value holds its amount"),
    "contract_renewed": ("crm", "a contract was renewed; value holds its amount"),
    "ticket_opened": ("service", "a service ticket was opened"),
    "ticket_closed": ("service", "a service ticket was closed"),
    "product_usage": ("product", "the product was used; value holds the amount"),
    "sensor_reading": ("product", "a reading from an installed device; value holds it"),
    "survey_answered": ("email", "a survey (NPS, CSAT, CES) was answered"),
}

EVENT_TYPE_PATTERN: Final[str] = r"^[a-z][a-z0-9_]{0,63}$"
_EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)

# Timestamps outside this window are absurd for a touchpoint and rejected.
EARLIEST_TS: Final[datetime] = datetime(1990, 1, 1, tzinfo=UTC)
MAX_FUTURE: Final[timedelta] = timedelta(days=1)

MAX_ID_LENGTH: Final[int] = 256
MAX_BATCH: Final[int] = 5_000

# The identity columns of an event, strongest first. A contact's canonical identity
# string is "<kind>:<value>", e.g. "email:anna@acme.fi".
IDENTITY_COLUMNS: Final[tuple[str, ...]] = ("crm_id", "email", "anonymous_id")
IDENTITY_KIND: Final[dict[str, str]] = {"crm_id": "crm", "email": "email", "anonymous_id": "anon"}


def identity_fields(identity: str) -> dict[str, str]:
    """The event fields naming an identity: ``"email:ann@x.fi"`` gives ``{"email": "ann@x.fi"}``."""
    kind, _, value = identity.partition(":")
    column = {k: c for c, k in IDENTITY_KIND.items()}[kind]
    return {column: value}

# Columns of the event log as a file or an Arrow table carries them.
EVENT_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "ts",
    "type",
    "channel",
    "anonymous_id",
    "email",
    "crm_id",
    "account_id",
    "topic",
    "value",
    "properties",
)


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random event id."""
    return uuid.uuid4().hex


def email_domain(email: str | None) -> str | None:
    """The domain part of an e-mail address, lower-cased."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _clean_id(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{field} is longer than {MAX_ID_LENGTH} characters")
    return value


class EventIn(BaseModel):
    """One touchpoint as a channel sends it. At least one identity field is required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str | None = Field(
        default=None, description="Unique id; resending the same id stores the event once."
    )
    ts: datetime | None = Field(default=None, description="When it happened (ISO 8601); now if absent.")
    type: str = Field(description="Event type, e.g. page_view; custom snake_case types allowed.")
    channel: Channel = Field(description="Channel of the touchpoint.")
    anonymous_id: str | None = Field(default=None, description="Cookie or device id.")
    email: str | None = None
    crm_id: str | None = Field(default=None, description="The contact's id in the CRM.")
    account_id: str | None = Field(default=None, description="The account's id in the CRM.")
    topic: str | None = Field(default=None, description="Content or offering topic.")
    value: float | None = Field(default=None, description="Amount: order value, usage, reading.")
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("channel", mode="before")
    @classmethod
    def _channel_case(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("type")
    @classmethod
    def _type_is_snake_case(cls, v: str) -> str:
        if not _EVENT_TYPE_RE.match(v):
            raise ValueError(
                "event type must be snake_case letters, digits and _ (at most 64), "
                f"got {v!r}"
            )
        return v

    @field_validator("event_id", "anonymous_id", "crm_id", "account_id", "topic")
    @classmethod
    def _id_length(cls, v: str | None, info: Any) -> str | None:
        return _clean_id(v, info.field_name)

    @field_validator("email")
    @classmethod
    def _email_form(cls, v: str | None) -> str | None:
        v = _clean_id(v, "email")
        if v is None:
            return None
        if not _EMAIL_RE.match(v):
            raise ValueError(f"not an e-mail address: {v!r}")
        return v.lower()

    @field_validator("ts")
    @classmethod
    def _sane_time(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        if v < EARLIEST_TS:
            raise ValueError(f"timestamp {v.isoformat()} is before {EARLIEST_TS.year}")
        if v > utcnow() + MAX_FUTURE:
            raise ValueError(f"timestamp {v.isoformat()} is in the future")
        return v

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and (v != v or v in (float("inf"), float("-inf"))):
            raise ValueError("value must be a finite number")
        return v

    @model_validator(mode="after")
    def _has_identity(self) -> EventIn:
        if not (self.anonymous_id or self.email or self.crm_id):
            raise ValueError("an event needs at least one of anonymous_id, email, crm_id")
        return self

    def row(self, now: datetime) -> dict[str, Any]:
        """The event as a row of the event log, with defaults filled in."""
        return {
            "event_id": self.event_id or new_id(),
            "ts": self.ts or now,
            "type": self.type,
            "channel": self.channel.value,
            "anonymous_id": self.anonymous_id,
            "email": self.email,
            "crm_id": self.crm_id,
            "account_id": self.account_id,
            "topic": self.topic,
            "value": self.value,
            "properties": self.properties,
        }


class AccountTraits(BaseModel):
    """What an identify call or CRM export says about the contact's organisation."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    employees: int | None = Field(default=None, ge=0)
    country: str | None = None
    owner: str | None = Field(default=None, description="Account owner at our firm (e-mail).")


class ContactTraits(BaseModel):
    """What we know about a person: name, title, place in the buying group."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    name: str | None = None
    title: str | None = None
    phone: str | None = None
    role: Role | None = None
    org_level: OrgLevel | None = None
    language: str | None = None
    timezone: str | None = None


class IdentifyIn(BaseModel):
    """Links an anonymous id to a known person (e-mail and/or CRM id) and their account."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str | None = None
    ts: datetime | None = None
    channel: Channel = Channel.web
    anonymous_id: str | None = None
    email: str | None = None
    crm_id: str | None = None
    account_id: str | None = Field(default=None, description="The account's id in the CRM.")
    traits: ContactTraits = Field(default_factory=ContactTraits)
    account: AccountTraits = Field(default_factory=AccountTraits)

    _check_ids = field_validator("event_id", "anonymous_id", "crm_id", "account_id")(
        EventIn._id_length.__func__  # type: ignore[attr-defined]
    )
    _check_email = field_validator("email")(EventIn._email_form.__func__)  # type: ignore[attr-defined]
    _check_ts = field_validator("ts")(EventIn._sane_time.__func__)  # type: ignore[attr-defined]
    _check_channel = field_validator("channel", mode="before")(EventIn._channel_case.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _names_someone(self) -> IdentifyIn:
        if not (self.email or self.crm_id):
            raise ValueError("identify needs an email or a crm_id to link to")
        return self

    def as_event(self) -> EventIn:
        """An identify call is stored in the event log as an event of type 'identify'."""
        props: dict[str, Any] = self.traits.model_dump(mode="json", exclude_none=True)
        account = self.account.model_dump(mode="json", exclude_none=True)
        if account:
            props["account"] = account
        return EventIn(
            event_id=self.event_id,
            ts=self.ts,
            type="identify",
            channel=self.channel,
            anonymous_id=self.anonymous_id,
            email=self.email,
            crm_id=self.crm_id,
            account_id=self.account_id,
            properties=props,
        )


class LeadDecisionIn(BaseModel):
    """Sales' decision on a lead, with the reason kept in the stage history."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "reject"]
    reason: str = Field(min_length=1, max_length=1000, pattern=r"\S")
    by: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
