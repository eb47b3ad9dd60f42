"""Workspace-wide nurture rules (`nurture.yaml`): sender, tracking address, caps, quiet hours, consent."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from polku.nurture.duration import Duration

_ADDRESS = re.compile(r"^(?:[^<>]*<)?\s*([^@\s<>]+@[^@\s<>]+\.[^@\s<>]+)\s*>?$")


def address_of(sender: str) -> str:
    """The bare e-mail address of `Name <addr>` or `addr`."""
    match = _ADDRESS.match(sender.strip())
    if match is None:
        raise ValueError(f"{sender!r} is not an e-mail address (write news@acme.example or Acme <news@acme.example>)")
    return match.group(1)


class Sender(BaseModel):
    """Who marketing e-mail comes from, and the postal address its footer carries."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(default="Polku <nurture@localhost.localdomain>", alias="from")
    reply_to: str | None = None
    postal_address: str | None = None

    @field_validator("from_", "reply_to")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None:
            address_of(v)
        return v

    @property
    def domain(self) -> str:
        """The sender's domain: the right-hand side of every Message-ID."""
        return address_of(self.from_).rsplit("@", 1)[1]


class FrequencyCap(BaseModel):
    """No contact gets more than ``messages`` marketing e-mails in ``per`` (across all journeys)."""

    model_config = ConfigDict(extra="forbid")

    messages: int = Field(ge=1)
    per: Duration

    @field_validator("per")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("per must be longer than zero")
        return v


class QuietHours(BaseModel):
    """No marketing e-mail between ``start`` and ``end`` in the contact's own time zone."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, v: object) -> object:
        """YAML 1.1 reads an unquoted 20:00 as the number 1200 (base 60); take it back as the time it was."""
        if isinstance(v, int) and not isinstance(v, bool):
            if not 0 <= v < 24 * 60:
                raise ValueError(f"{v} is not a time of day; write it as \"20:00\"")
            return time(v // 60, v % 60)
        return v

    @model_validator(mode="after")
    def _differ(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end of quiet hours must differ")
        return self


class Policy(BaseModel):
    """The workspace's nurture policy; every field has a default, so the file is optional."""

    model_config = ConfigDict(extra="forbid")

    sender: Sender = Field(default_factory=Sender)
    tracking_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    frequency_cap: FrequencyCap | None = None
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"
    consent: Literal["opt_out", "opt_in"] = "opt_out"
    default_language: str = "en"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{v!r} is not a time zone name (e.g. Europe/Helsinki)") from exc
        return v
