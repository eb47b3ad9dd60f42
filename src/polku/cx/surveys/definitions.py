"""The survey file format: questions (NPS, CSAT, CES, custom scales, choices, free text) with texts per
language, single-use or repeatable answers, expiry, and the touchpoints that trigger an invitation.

A survey is one YAML file in the workspace's ``surveys/`` folder; see docs/cx-surveys.md.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from polku.model import EVENT_TYPE_PATTERN
from polku.nurture.duration import Duration

ID_PATTERN: Final[str] = r"^[a-z0-9][a-z0-9_-]{0,62}$"
LANGUAGE_PATTERN: Final[str] = r"^[a-z]{2,3}$"
# The standard measures and their scales (CES is the 1-7 agreement scale: higher is easier).
MEASURES: Final[dict[str, tuple[int, int]]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
QUESTION_TYPES: Final[tuple[str, ...]] = ("nps", "csat", "ces", "scale", "choice", "text")
MAX_POINTS: Final[int] = 11  # a scale shows at most this many options (NPS has 11)
TEXT_LIMIT: Final[int] = 10_000  # no free-text answer may be longer, whatever a survey says
DEFAULT_TEXT_LENGTH: Final[int] = 2_000
INVITE_CHANNELS: Final[tuple[str, ...]] = ("email", "link", "portal", "journey")
_LANG = re.compile(LANGUAGE_PATTERN)
_EVENT_TYPE = re.compile(EVENT_TYPE_PATTERN)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]


def _texts(value: dict[str, str], what: str) -> dict[str, str]:
    bad = [k for k in value if not _LANG.match(str(k))]
    if bad:
        raise ValueError(f"{what}: {bad[0]!r} is not a language code (write en, fi, sv, ...)")
    if not value:
        raise ValueError(f"{what} needs a text in at least one language")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    """One option of a choice question: the value stored, and its label per language."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    label: dict[str, Line]

    @field_validator("label")
    @classmethod
    def _label(cls, v: dict[str, str]) -> dict[str, str]:
        return _texts(v, "label")


class Question(_Strict):
    """One question; which fields apply depends on its type."""

    id: Id
    type: Literal["nps", "csat", "ces", "scale", "choice", "text"]
    text: dict[str, Line]
    help: dict[str, Line] | None = None
    required: bool | None = Field(default=None, description="default: yes, except for free text")
    min: int | None = None
    max: int | None = None
    labels: dict[str, dict[int, Line]] | None = Field(default=None, description="per language: point -> label")
    choices: list[Choice] | None = None
    max_length: int | None = Field(default=None, ge=1, le=TEXT_LIMIT)

    @field_validator("text", "help")
    @classmethod
    def _text(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else _texts(v, "text")

    @model_validator(mode="after")
    def _fits_type(self) -> Question:
        kind = self.type
        scaled = kind in MEASURES or kind == "scale"
        if kind in MEASURES and (self.min is not None or self.max is not None):
            low, high = MEASURES[kind]
            raise ValueError(f"{kind} has a fixed scale ({low}-{high}); remove min and max")
        if kind == "scale":
            if self.min is None or self.max is None:
                raise ValueError("a scale question needs min and max (e.g. min: 1, max: 5)")
            if not 0 <= self.min < self.max or self.max - self.min + 1 > MAX_POINTS:
                raise ValueError(f"a scale runs from min to max, 0 <= min < max, with at most {MAX_POINTS} points")
            if self.id in MEASURES:
                raise ValueError(f"a custom scale cannot be called {self.id!r} (that is a standard measure)")
        if not scaled and (self.min is not None or self.max is not None or self.labels is not None):
            raise ValueError(f"min, max and labels are for scale questions, not {kind}")
        if kind == "choice":
            if not self.choices or len(self.choices) < 2:
                raise ValueError("a choice question needs at least two choices")
            if len({c.id for c in self.choices}) != len(self.choices):
                raise ValueError("choice ids must differ")
        elif self.choices is not None:
            raise ValueError(f"choices are for choice questions, not {kind}")
        if kind != "text" and self.max_length is not None:
            raise ValueError(f"max_length is for text questions, not {kind}")
        if scaled:
            low, high = self.scale
            for lang, points in (self.labels or {}).items():
                _texts({lang: ""}, "labels")
                outside = [p for p in points if not low <= p <= high]
                if outside:
                    raise ValueError(f"labels.{lang}: point {outside[0]} is outside the scale {low}-{high}")
        return self

    @property
    def scale(self) -> tuple[int, int]:
        """Lowest and highest answer of a scale question."""
        if self.type in MEASURES:
            return MEASURES[self.type]
        return (self.min or 0, self.max or 0)

    @property
    def is_required(self) -> bool:
        """Whether an answer is needed (free text is optional unless it says otherwise)."""
        return self.required if self.required is not None else self.type != "text"

    @property
    def measure(self) -> str | None:
        """The score this question gives: nps, csat, ces, or a custom scale's own id."""
        if self.type in MEASURES:
            return self.type
        return self.id if self.type == "scale" else None

    @property
    def limit(self) -> int:
        """Longest free-text answer accepted."""
        return self.max_length or DEFAULT_TEXT_LENGTH

    def languages(self) -> set[str]:
        """Languages this question has a text in."""
        return set(self.text)


class Trigger(_Strict):
    """Invite a contact after a touchpoint: an event type, optional property filter, delay, cooldown and sample."""

    event: str
    where: dict[str, str | int | float | bool] = Field(default_factory=dict, description="property equality")
    delay: Duration = 0
    cooldown: Duration = 30 * 86400
    sample: float = Field(default=1.0, gt=0.0, le=1.0)
    max_age: Duration = 7 * 86400
    channel: Literal["email", "link", "portal"] = "email"
    journey: Id | None = Field(default=None, description="ask this nurture journey to send the invitation")

    @field_validator("event")
    @classmethod
    def _type(cls, v: str) -> str:
        if not _EVENT_TYPE.match(v):
            raise ValueError(f"{v!r} is not an event type name (snake_case)")
        return v

    @model_validator(mode="after")
    def _age(self) -> Trigger:
        if self.max_age <= self.delay:
            raise ValueError("max_age must be longer than delay, or no event would ever be old enough and young enough")
        return self

    def matches(self, event_type: str, properties: dict[str, Any]) -> bool:
        """Whether an event of this type with these properties fires the trigger."""
        if event_type != self.event:
            return False
        for key, want in self.where.items():
            got = properties.get(key)
            if isinstance(want, bool) or isinstance(got, bool):
                if got is not want and str(got).lower() != str(want).lower():
                    return False
            elif isinstance(want, (int, float)) and isinstance(got, (int, float)):
                if float(got) != float(want):
                    return False
            elif got is None or str(got) != str(want):
                return False
        return True


class Survey(_Strict):
    """A survey as written in its file (the id defaults to the file name)."""

    id: Id
    title: dict[str, Line]
    intro: dict[str, Annotated[str, StringConstraints(strip_whitespace=True, max_length=4_000)]] | None = None
    thanks: dict[str, Annotated[str, StringConstraints(strip_whitespace=True, max_length=4_000)]] | None = None
    default_language: str = "en"
    allow_multiple: bool = False
    max_answers: int | None = Field(default=None, ge=2, le=1000, description="with allow_multiple (default 100)")
    expires: Duration = 30 * 86400
    questions: list[Question] = Field(min_length=1, max_length=40)
    triggers: list[Trigger] = Field(default_factory=list)

    @field_validator("title", "intro", "thanks")
    @classmethod
    def _text(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return None if v is None else _texts(v, "text")

    @model_validator(mode="after")
    def _whole(self) -> Survey:
        found = self.problems()
        if found:
            loc, reason = found[0]
            raise ValueError(f"{'.'.join(map(str, loc))}: {reason}" if loc else reason)
        return self

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Checks across fields, each with the place it is about: ids, measures, languages, limits."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        seen: dict[str, int] = {}
        for i, q in enumerate(self.questions):
            if q.id in seen:
                out.append((("questions", i, "id"), f"question id {q.id!r} is used twice"))
            seen.setdefault(q.id, i)
            if q.type in MEASURES and any(p.type == q.type for p in self.questions[:i]):
                out.append((("questions", i, "type"), f"a survey asks {q.type} at most once (its answer is the survey's {q.type} score)"))
        if self.max_answers is not None and not self.allow_multiple:
            out.append((("max_answers",), "max_answers goes with allow_multiple: true"))
        if self.expires <= 0:
            out.append((("expires",), "expires must be longer than zero"))
        langs = self.languages
        if self.default_language not in langs:
            out.append((("default_language",), f"{self.default_language!r} is not among the title's languages ({', '.join(langs)})"))
        for loc, texts in self._texts():
            for lang in sorted(set(langs) - set(texts)):
                out.append((loc, f"no text in {lang} (every text needs every language of the title: {', '.join(langs)})"))
        return out

    def _texts(self) -> list[tuple[tuple[str | int, ...], dict[str, Any]]]:
        """Every text mapping of the survey with its place."""
        places: list[tuple[tuple[str | int, ...], dict[str, Any] | None]] = [(("intro",), self.intro), (("thanks",), self.thanks)]
        for i, q in enumerate(self.questions):
            places += [(("questions", i, "text"), q.text), (("questions", i, "help"), q.help)]
            places += [(("questions", i, "choices", k, "label"), c.label) for k, c in enumerate(q.choices or [])]
            places += [(("questions", i, "labels"), q.labels)] if q.labels is not None else []
        return [(loc, texts) for loc, texts in places if texts is not None]

    @property
    def languages(self) -> list[str]:
        """The survey's languages, in the order its title lists them."""
        return list(self.title)

    @property
    def max_answers_per_invite(self) -> int:
        """How many answers one invitation takes: 1, or more when the survey allows repeats."""
        return (self.max_answers or 100) if self.allow_multiple else 1

    @property
    def measures(self) -> list[str]:
        """The scores an answer gives, in question order."""
        return [m for m in (q.measure for q in self.questions) if m is not None]

    @functools.cached_property
    def version(self) -> str:
        """A fingerprint of the definition (pages rendered from it are cached under it)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def language_for(self, *wanted: str | None) -> str:
        """The first wanted language this survey has (``fi-FI`` matches ``fi``), else its default."""
        for lang in wanted:
            if not lang:
                continue
            base = lang.strip().lower().replace("_", "-").split("-")[0]
            if base in self.title:
                return base
        return self.default_language

    def summary(self) -> dict[str, Any]:
        """The survey in a few fields (lists and API answers)."""
        return {
            "id": self.id, "title": self.title.get(self.default_language), "languages": self.languages,
            "questions": len(self.questions), "measures": self.measures, "allow_multiple": self.allow_multiple,
            "expires_days": round(self.expires / 86400, 2),
            "triggers": [t.model_dump(mode="json", exclude_defaults=True) for t in self.triggers],
        }
