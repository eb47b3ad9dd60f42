"""Surveys inside nurture journeys: a send step with ``survey: <id>`` e-mails a survey link.

    - id: ask
      send: csat-mail          # a template that shows {{ survey_url }}
      survey: support-csat

Before each advance the engine calls ``prepare`` (reads committed state: enrolments due at
survey steps and their contacts; makes an invitation for each, or takes the contact's open
invitation to that survey that no journey has sent yet, e.g. one a survey trigger made).
Inside the advance's transaction, after the sends are queued, ``attach`` stores the
invitations of the messages actually queued and writes each link into its message's frozen
context, where the template reads it as ``survey_url``. A skipped or deferred send stores
nothing, so its invitation is made again when the step runs.

``check_steps`` is the loader's check: the survey exists, and ``survey_url`` is used by
exactly the steps that have a survey.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from jinja2 import TemplateSyntaxError, meta

from polku.cx.surveys import tokens
from polku.cx.surveys.invites import Occasion, invite_row, url_of
from polku.cx.surveys.loader import SURVEYS_DIR, catalog, load_surveys
from polku.errors import ConfigError
from polku.store import cx_surveys as sql
from polku.store.duck import DuckStore

if TYPE_CHECKING:
    from polku.nurture.definitions import Journey
    from polku.nurture.loader import Library, Located
    from polku.nurture.yamlsrc import Problem, Source
    from polku.workspace import Workspace

VARIABLE = "survey_url"
_EXTRA = pa.schema([("message_id", pa.string()), ("url", pa.string()), ("reuse", pa.bool_())])


def survey_steps(journeys: Iterable[Journey]) -> list[tuple[str, str, str]]:
    """(journey, step, survey) of every send step that carries a survey."""
    return [(j.id, s.id, s.survey) for j in journeys for s in j.steps if s.survey is not None]


def prepare(ws: Workspace, now: datetime, steps: list[tuple[str, str, str]], base_url: str) -> pa.Table | None:
    """Invitations for the enrolments due now at survey steps, with their links (reads; may create the secret)."""
    if not steps:
        return None
    store = ws.store
    due = sql.due_at_steps(store, now, [(j, s) for j, s, _ in steps])
    if not due:
        return None
    survey_of = {(j, s): survey_id for j, s, survey_id in steps}
    surveys = catalog(ws.home).surveys()
    contact_ids = [d["contact_id"] for d in due]
    people = sql.people(store, contact_ids)
    unsent = sql.unsent_invites(store, sorted(set(survey_of.values())), contact_ids, now)
    secret = tokens.secret(store)
    rows: list[dict[str, Any]] = []
    for d in due:
        survey = surveys.get(survey_of[(d["journey_id"], d["step_id"])])
        person = people.get(d["contact_id"])
        if survey is None or person is None:
            continue
        waiting = unsent.pop((survey.id, d["contact_id"]), None)
        if waiting is not None:
            row = {**waiting, "enrolment_id": d["enrolment_id"], "reuse": True}
        else:
            row = {**invite_row(survey, person, Occasion("journey", enrolment_id=d["enrolment_id"]), now), "reuse": False}
        row["message_id"] = f"{d['enrolment_id']}.{d['step_id']}"
        row["url"] = url_of(base_url, secret, row["invite_id"])
        rows.append(row)
    if not rows:
        return None
    schema = pa.schema(list(sql.SCHEMA) + list(_EXTRA))
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)


def attach(store: DuckStore, prepared: pa.Table | None) -> None:
    """Store the invitations of the messages queued in this transaction and put their links into the messages."""
    if prepared is not None and prepared.num_rows:
        sql.attach_to_outbox(store, prepared)


# ---- checking journey definitions ----------------------------------------------------------------


def _reads_link(located: Located) -> bool:
    """Whether a template variant shows the survey link."""
    from polku.nurture.content import ENV_HTML, ENV_TEXT, PARTS

    for part in PARTS:
        source = getattr(located.template, part)
        if source is None or VARIABLE not in source:
            continue
        try:
            tree = (ENV_HTML if part == "html" else ENV_TEXT).parse(source)
        except TemplateSyntaxError:
            continue  # the content check reports it
        if VARIABLE in meta.find_undeclared_variables(tree):
            return True
    return False


def check_steps(home: Path, journeys: list[tuple[Journey, Source]], library: Library) -> list[Problem]:
    """Survey steps name surveys that exist and templates that show the link; other sends do not use it."""
    problems: list[Problem] = []
    wanted = [(j, src, i, s) for j, src in journeys for i, s in enumerate(j.steps)]
    if not any(s.survey is not None for _, _, _, s in wanted) and not any(_reads_link(v) for v in library.items):
        return problems
    broken = ""
    try:
        surveys: dict[str, Any] | None = load_surveys(home)
    except ConfigError as exc:
        surveys, broken = None, exc.message
    for journey, src, i, step in wanted:
        template = step.send or (step.notify_owner.template if step.notify_owner is not None else None)
        variants = library.variants(template) if template is not None else []
        if step.survey is not None:
            if surveys is None:
                problems.append(src.problem(("steps", i, "survey"), f"the surveys cannot be read: {broken}"))
            elif step.survey not in surveys:
                known = ", ".join(sorted(surveys)) or f"none: add files under {SURVEYS_DIR}/"
                problems.append(src.problem(("steps", i, "survey"), f"no survey {step.survey!r} (surveys: {known})"))
            for v in variants:
                if not _reads_link(v):
                    problems.append(src.problem(("steps", i, "send"), (
                        f"template {step.send!r} ({v.source.name}) does not show the survey link: "
                        f"write {{{{ {VARIABLE} }}}} in its text")))
        else:
            for v in variants:
                if _reads_link(v):
                    problems.append(src.problem(("steps", i, step.kind), (
                        f"template {template!r} ({v.source.name}) shows {{{{ {VARIABLE} }}}}, which only a send step "
                        "with survey: <id> has; add survey to this step")))
    return problems
