"""The answer page as HTML: the survey in one language, its thank-you page and its error pages.

Rendered with Jinja2 (autoescaped: every text a person or a survey file supplies is escaped)
from ``polku/cx/templates``. No scripts, no outside assets: the style is inline and the
radio groups are plain HTML, usable by keyboard and screen reader. The clean form of a
survey in one language is the same for every invitation (the form posts back to its own
address), so it is rendered once and cached.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import Final

import jinja2

from polku.cx.surveys.definitions import Question, Survey
from polku.cx.surveys.form import Issue
from polku.cx.surveys.texts import SCALE_LABELS, ui

# Security headers of every survey page: no scripts, nothing from elsewhere, no referrer (the URL is a capability).
_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors {ancestors}")
_CACHE_LIMIT: Final[int] = 512


@functools.cache
def headers(embed: bool) -> dict[str, str]:
    """HTTP headers of a survey page (an embedded page may be framed by a portal)."""
    out = {
        "Content-Security-Policy": _CSP.format(ancestors="*" if embed else "'none'"),
        "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        "X-Robots-Tag": "noindex, nofollow",
    }
    if not embed:
        out["X-Frame-Options"] = "DENY"
    return out


@functools.cache
def environment() -> jinja2.Environment:
    """The survey templates, HTML autoescaped, a missing variable an error."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("polku.cx", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Point:
    """One option of a scale or choice question."""

    value: str
    label: str | None


@dataclass(frozen=True)
class QuestionView:
    """A question in one language, ready for the template."""

    id: str
    type: str
    text: str
    help: str | None
    required: bool
    points: list[Point]
    low_label: str | None
    high_label: str | None
    limit: int | None
    scale_hint: str | None
    error: str | None = None
    value: str = ""


def _labels(q: Question, lang: str) -> dict[int, str]:
    builtin = SCALE_LABELS.get(q.type, {})
    own = q.labels or {}
    return dict(own.get(lang) or own.get("en") or builtin.get(lang) or builtin.get("en") or {})


def _view(q: Question, lang: str, issue: Issue | None, value: str) -> QuestionView:
    words = ui(lang)
    if q.type == "choice":
        points = [Point(c.id, c.label[lang]) for c in q.choices or []]
        low = high = hint = None
    elif q.type == "text":
        points, low, high, hint = [], None, None, None
    else:
        first, last = q.scale
        labels = _labels(q, lang)
        points = [Point(str(n), labels.get(n)) for n in range(first, last + 1)]
        low, high = labels.get(first), labels.get(last)
        hint = words["scale_from"].format(low=first, high=last)
    return QuestionView(
        id=q.id, type=q.type, text=q.text[lang], help=(q.help or {}).get(lang), required=q.is_required,
        points=points, low_label=low, high_label=high, limit=q.limit if q.type == "text" else None, scale_hint=hint,
        error=issue.text(lang) if issue is not None else None, value=value,
    )


@dataclass
class Renderer:
    """Renders survey pages; caches each survey's clean form per language and framing."""

    _forms: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def form(self, survey: Survey, lang: str, *, embed: bool, issues: list[Issue] | None = None,
             values: dict[str, str] | None = None) -> str:
        """The survey's form; with issues, shown again with the messages and what the person typed."""
        if not issues and not values:
            key = (survey.id, survey.version, lang, embed)
            cached = self._forms.get(key)
            if cached is None:
                cached = self._render_form(survey, lang, embed, [], {})
                with self._lock:
                    if len(self._forms) >= _CACHE_LIMIT:
                        self._forms.clear()
                    self._forms[key] = cached
            return cached
        return self._render_form(survey, lang, embed, issues or [], values or {})

    def _render_form(self, survey: Survey, lang: str, embed: bool, issues: list[Issue], values: dict[str, str]) -> str:
        by_question = {i.question: i for i in issues}
        questions = [_view(q, lang, by_question.get(q.id), values.get(q.id, "")) for q in survey.questions]
        return environment().get_template("survey.html").render(
            page="form", lang=lang, ui=ui(lang), embed=embed, title=survey.title[lang],
            intro=(survey.intro or {}).get(lang), questions=questions,
            errors=[q for q in questions if q.error], languages=survey.languages,
        )

    def thanks(self, survey: Survey, lang: str, *, embed: bool, again: bool) -> str:
        """The page after a stored answer (``again``: the link takes more answers)."""
        words = ui(lang)
        body = (survey.thanks or {}).get(lang) or words["thanks"]
        return self.message(lang, survey.title[lang], words["thanks_title"], body, embed=embed,
                            note=words["again"] if again else None)

    def message(self, lang: str, heading: str | None, title: str, body: str, *, embed: bool, note: str | None = None) -> str:
        """A page that only says something: thanks, already answered, expired, not valid."""
        return environment().get_template("survey.html").render(
            page="message", lang=lang, ui=ui(lang), embed=embed, title=title, heading=heading, body=body, note=note,
            questions=[], errors=[], intro=None, languages=[],
        )


def error_page(renderer: Renderer, lang: str, status: int, *, embed: bool, heading: str | None = None) -> str:
    """The page of a refused link or answer, by HTTP status, in a language."""
    words = ui(lang)
    keys: dict[int, tuple[str, str]] = {
        400: ("invalid_title", "invalid"), 404: ("missing_title", "missing_invite"),
        409: ("answered_title", "answered"), 410: ("expired_title", "expired"),
        413: ("errors_title", "too_large"),
    }
    title_key, body_key = keys.get(status, ("unavailable_title", "unavailable"))
    return renderer.message(lang, heading, words[title_key], words[body_key], embed=embed)

