"""Reading a submitted answer form: every answer checked against its question, nothing guessed.

Pure: form fields in, an ``Answer`` (scores, answers, comment) out, or ``AnswerRejected``
listing each question's problem (with the words to show in the page's language) and the
values the person typed, so the form can be shown again as they left it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from polku.cx.surveys.definitions import TEXT_LIMIT, Question, Survey
from polku.cx.surveys.texts import UI, ui
from polku.errors import InvalidInput, PayloadTooLarge


@dataclass(frozen=True)
class Answer:
    """A valid answer: scores by measure, every answer by question, the main comment, the first score."""

    scores: dict[str, int]
    answers: dict[str, int | str]
    comment: str | None

    @property
    def value(self) -> float | None:
        """The first measure's score (the event's ``value``)."""
        return float(next(iter(self.scores.values()))) if self.scores else None


@dataclass(frozen=True)
class Issue:
    """What is wrong with one question's answer: a message key of ``texts.UI`` and its values."""

    question: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        """The message in a language."""
        return ui(lang)[self.key].format(**self.params)


class AnswerRejected(InvalidInput):
    """The answers do not fit the survey; nothing is stored. ``issues`` say why, ``values`` what was typed."""

    def __init__(self, issues: list[Issue], values: dict[str, str], *, too_large: bool = False) -> None:
        english = UI["en"]
        details = [{"field": i.question, "reason": english[i.key].format(**i.params)} for i in issues]
        super().__init__("the answers are not valid: " + "; ".join(f"{d['field']}: {d['reason']}" for d in details),
                         details=details)
        self.issues = issues
        self.values = values
        if too_large:
            self.status, self.code = PayloadTooLarge.status, PayloadTooLarge.code


def clean_text(value: str) -> str:
    """Free text as stored: normalised (NFC), line ends as \\n, control characters out, ends trimmed."""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


def _one(q: Question, raw: str) -> tuple[int | str | None, Issue | None]:
    """The answer to one question from its form field ("" when left blank)."""
    if q.type == "text":
        text = clean_text(raw)
        if len(text) > q.limit:
            return None, Issue(q.id, "too_long", {"limit": q.limit, "length": len(text)})
        return (text or None), None
    value = raw.strip()
    if not value:
        return None, None
    if q.type == "choice":
        ids = [c.id for c in q.choices or []]
        return (value, None) if value in ids else (None, Issue(q.id, "unknown_choice"))
    low, high = q.scale
    try:
        number = int(value)
    except ValueError:
        return None, Issue(q.id, "range", {"low": low, "high": high})
    if not low <= number <= high:
        return None, Issue(q.id, "range", {"low": low, "high": high})
    return number, None


def read_answer(survey: Survey, form: Mapping[str, str]) -> Answer:
    """Check every question's field; raises AnswerRejected (422, or 413 for text over the hard limit)."""
    answers: dict[str, int | str] = {}
    issues: list[Issue] = []
    values = {q.id: str(form.get(q.id, ""))[: TEXT_LIMIT + 1] for q in survey.questions}
    too_large = False
    for q in survey.questions:
        raw = str(form.get(q.id, ""))
        if q.type == "text" and len(raw) > TEXT_LIMIT:
            too_large = True
        value, issue = _one(q, raw)
        if issue is None and value is None and q.is_required:
            issue = Issue(q.id, "missing")
        if issue is not None:
            issues.append(issue)
        elif value is not None:
            answers[q.id] = value
    if issues:
        raise AnswerRejected(issues, values, too_large=too_large)
    scores = {q.measure: int(answers[q.id]) for q in survey.questions if q.measure and q.id in answers}
    comment = next((str(answers[q.id]) for q in survey.questions if q.type == "text" and q.id in answers), None)
    return Answer(scores=scores, answers=answers, comment=comment)
