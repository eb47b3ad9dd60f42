"""The surveys of one workspace as one object: definitions, invitations, the answer page, triggers.

The CLI, the HTTP routes and Python code all go through ``Surveys``. Every write takes a
``run``: the default runs it here in a transaction (you own the workspace); the server passes
its writer thread's ``submit``, so answers are stored by the one writer like every other write.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from polku.cx.surveys import invites, submit, tokens, triggers
from polku.cx.surveys.definitions import Survey
from polku.cx.surveys.form import AnswerRejected, read_answer
from polku.cx.surveys.loader import catalog, load_surveys
from polku.cx.surveys.page import Renderer, error_page
from polku.cx.surveys.states import InviteStates, State
from polku.cx.surveys.texts import accepted_languages
from polku.errors import ConfigError, PolkuError
from polku.model import utcnow
from polku.store import cx_surveys as sql

if TYPE_CHECKING:
    from polku.workspace import Workspace

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], T]


@dataclass(frozen=True)
class Page:
    """An answer page to send: HTTP status, HTML, and the stored answer when one was stored."""

    status: int
    html: str
    embed: bool
    response: submit.Response | None = None
    error: PolkuError | None = None


@dataclass(frozen=True)
class Asked:
    """What the browser asked for: a language (``?lang=``), its Accept-Language, and the embedded form."""

    lang: str | None = None
    accept_language: str | None = None
    embed: bool = False


class Surveys:
    """Surveys over one open workspace (one per process is enough; it caches definitions, pages and the secret)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.catalog = catalog(ws.home)
        self.renderer = Renderer()
        self.states = InviteStates(ws.store)
        self._secret: str | None = None
        self._tick_lock = threading.Lock()

    # ---- running writes ----------------------------------------------------------------------

    def run_here(self, job: Callable[[], T]) -> T:
        """Run a write in this thread, in one transaction (the workspace is ours alone)."""
        with self.ws.store.transaction():
            return job()

    def secret(self) -> str | None:
        """The workspace's link secret (read once; None before the first invitation)."""
        if self._secret is None:
            self._secret = self.ws.store.meta(tokens.SECRET_KEY)
        return self._secret

    # ---- definitions ---------------------------------------------------------------------------

    def check(self) -> dict[str, Survey]:
        """Load and check every survey file now; raises ConfigError listing file:line problems."""
        return load_surveys(self.ws.home)

    def summaries(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every survey with its invitation and answer counts."""
        counts = sql.counts(self.ws.store, now or utcnow())
        zero = {"invites": 0, "answered": 0, "answers": 0, "open": 0, "expired": 0}
        return [{**s.summary(), **counts.get(s.id, zero)} for s in self.catalog.surveys().values()]

    def detail(self, survey_id: str, now: datetime | None = None) -> dict[str, Any]:
        """One survey: its definition, counts, response rate, and invitations by channel and language."""
        survey = self.catalog.get(survey_id)
        counts = sql.counts(self.ws.store, now or utcnow()).get(survey.id, {})
        n = counts.get("invites", 0)
        return {
            **survey.summary(), **{k: counts.get(k, 0) for k in ("invites", "answered", "answers", "open", "expired")},
            "response_rate": round(counts.get("answered", 0) / n, 4) if n else None,
            "by_channel": sql.by_channel(self.ws.store, survey.id),
            "definition": survey.model_dump(mode="json", exclude_none=True),
        }

    # ---- invitations ---------------------------------------------------------------------------

    def invite(self, survey_id: str, keys: list[str], occasion: invites.Occasion, base: str, *,
               run: Runner[Any] | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
        """Invite contacts (all or nothing); returns each invitation with its link."""
        now = now or utcnow()
        survey = self.catalog.get(survey_id)
        if run is None and not self.ws.is_fresh():  # the server refreshes before the route runs
            self.ws.refresh()
        rows = invites.plan(self.ws, survey, keys, occasion, now)
        secret = (run or self.run_here)(lambda: invites.store_invites(self.ws.store, rows))
        self._secret = secret
        for r in rows:
            self.states.remember(State(**{k: r[k] for k in State._fields}))
        return [invites.described(r, base, secret) for r in rows]

    def open_invites(self, key: str, base: str, *, survey_id: str | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
        """A contact's open invitations with links (a customer portal lists or embeds them)."""
        if survey_id is not None:
            self.catalog.get(survey_id)
        if not self.ws.is_fresh():
            self.ws.refresh()
        return invites.open_for(self.ws, key, base, now or utcnow(), survey_id)

    # ---- triggers ------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None, *, run: Runner[Any] | None = None) -> triggers.TickResult:
        """Create the invitations the surveys' triggers call for (``run`` must run it alone, as the writer)."""
        when = now or utcnow()
        surveys = self.catalog.surveys()
        with self._tick_lock:
            result: triggers.TickResult = (run or (lambda job: job()))(lambda: triggers.tick(self.ws, surveys, when))
        return result

    # ---- the answer page -----------------------------------------------------------------------

    def _open(self, token: str, asked: Asked, now: datetime, *, whole: bool = False) -> tuple[dict[str, Any], Survey, str]:
        """The invitation a token names (``whole``: its row read now from the database, else the page's copy),
        its survey, and the page's language; raises PolkuErrors."""
        invite_id = tokens.read(self.secret(), token)
        if whole:
            row = sql.invite(self.ws.store, invite_id)
            if row is not None:
                self.states.answered(invite_id, row["answers"])
        else:
            state = self.states.get(invite_id, now)
            row = state.row() if state is not None else None
        if row is None:
            raise submit.InviteNotFound("this survey invitation does not exist (any more)")
        survey = self.catalog.get(row["survey_id"])
        lang = survey.language_for(asked.lang, row["language"], *accepted_languages(asked.accept_language))
        return row, survey, lang

    def _refused(self, exc: PolkuError, asked: Asked, survey: Survey | None = None, lang: str | None = None) -> Page:
        if lang is None:
            wanted = [x.split("-")[0] for x in [asked.lang, *accepted_languages(asked.accept_language)] if x]
            lang = next((x for x in wanted if re.fullmatch(r"[a-z]{2,3}", x)), "en")
        status = 503 if isinstance(exc, ConfigError) else exc.status
        heading = survey.title.get(lang) if survey is not None else None
        return Page(status, error_page(self.renderer, lang, status, embed=asked.embed, heading=heading), asked.embed, error=exc)

    def refuse(self, exc: PolkuError, token: str, asked: Asked) -> Page:
        """The error page of a request refused before its answers were read (e.g. a body too large)."""
        try:
            _, survey, lang = self._open(token, asked, utcnow())
        except PolkuError as bad_link:
            return self._refused(bad_link, asked)
        return self._refused(exc, asked, survey, lang)

    def page(self, token: str, asked: Asked, now: datetime | None = None) -> Page:
        """The survey form of a link (or why it cannot be answered)."""
        survey: Survey | None = None
        lang: str | None = None
        now = now or utcnow()
        try:
            row, survey, lang = self._open(token, asked, now)
            submit.check_invite(row, now)
        except PolkuError as exc:
            return self._refused(exc, asked, survey, lang)
        return Page(200, self.renderer.form(survey, lang, embed=asked.embed), asked.embed)

    def answer(self, token: str, form: Mapping[str, str], asked: Asked, *, run: Runner[Any] | None = None,
               now: datetime | None = None) -> Page:
        """Check and store an answer: one event and the invitation's count in one write, then the thank-you page."""
        now = now or utcnow()
        survey: Survey | None = None
        lang: str | None = None
        try:
            row, survey, lang = self._open(token, asked, now, whole=True)
            lang = survey.language_for(form.get("_lang"), lang)
            submit.check_invite(row, now)
            answer = read_answer(survey, form)
        except AnswerRejected as exc:
            assert survey is not None and lang is not None
            html = self.renderer.form(survey, lang, embed=asked.embed, issues=exc.issues, values=exc.values)
            return Page(exc.status, html, asked.embed, error=exc)
        except PolkuError as exc:
            return self._refused(exc, asked, survey, lang)
        person = sql.person_of(self.ws.store, row["identity"])
        event = submit.answer_event(row, survey, answer, person, lang, now)
        batch = self.ws.prepare_batch([event])
        if batch.rejected:
            raise PolkuError(f"the answer's event is not valid: {batch.rejected[0]['errors']}")
        try:
            stored = (run or self.run_here)(lambda: submit.record(self.ws, batch, row["invite_id"], row["answers"], now))
        except PolkuError as exc:
            if isinstance(exc, submit.AlreadyAnswered):
                self.states.answered(row["invite_id"], row["max_answers"])
            return self._refused(exc, asked, survey, lang)
        self.states.answered(row["invite_id"], stored.answers)
        html = self.renderer.thanks(survey, lang, embed=asked.embed, again=stored.answers < row["max_answers"])
        return Page(200, html, asked.embed, response=stored)
