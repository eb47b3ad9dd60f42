"""A survey step in a nurture journey: the e-mail (through a real SMTP server on loopback) carries a signed
link whose page opens and takes one answer; a survey trigger can hand its invitation to a journey."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app
from polku.cx.surveys import Surveys
from polku.errors import ConfigError
from polku.model import utcnow
from polku.nurture.delivery import Deliverer
from polku.nurture.engine import Engine
from polku.nurture.loader import load_definitions
from polku.nurture.settings import SmtpSettings

SURVEY = """\
title: {en: "How was your onboarding?", fi: "Miten käyttöönotto sujui?"}
questions:
  - id: ces
    type: ces
    text: {en: "Acme made it easy to get started.", fi: "Acme teki aloittamisesta helppoa."}
triggers:
  - event: onboarding_finished
    channel: email
    journey: ask-mail
"""
CONTENT = """\
templates:
  - id: ask
    language: en
    subject: "Two minutes for us?"
    text: |
      Hi {{ contact.name | default('there') }}, how was it? {{ survey_url }}
  - id: ask
    language: fi
    subject: "Kaksi minuuttia?"
    text: |
      Hei {{ contact.name | default('') }}, miten meni? {{ survey_url }}
  - id: plain
    subject: "News"
    text: "Nothing to answer."
"""
LINK = re.compile(r"https://cx\.acme\.example/s/[A-Za-z0-9_.-]+")


class Inbox:
    """What the loopback SMTP server received."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(bytes(envelope.content))
        return "250 OK"

    def messages(self) -> list[Message]:
        return [email.message_from_bytes(r, policy=email.policy.default) for r in self.raw]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def write(home: Path, rel: str, data: str | dict[str, Any]) -> None:
    path = home / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    write(home, "surveys/onboarding.yaml", SURVEY)
    write(home, "content/library.yaml", CONTENT)
    write(home, "nurture.yaml", {"tracking_url": "https://cx.acme.example",
                                 "sender": {"from": "Acme <cx@acme.example>"}})
    write(home, "journeys/welcome-survey.yaml", {
        "trigger": {"event": "account_activated", "lookback": "1d"},
        "steps": [{"id": "wait", "wait": "1h"}, {"id": "ask", "send": "ask", "survey": "onboarding"}],
    })
    write(home, "journeys/ask-mail.yaml", {"trigger": {"manual": True},
                                           "steps": [{"id": "ask", "send": "ask", "survey": "onboarding"}]})
    return home


def deliver(ws: Workspace, port: int, at: datetime | None = None) -> None:
    deliverer = Deliverer(ws, settings=SmtpSettings(host="127.0.0.1", port=port, security="none", connections=2),
                          clock=(lambda: at) if at is not None else utcnow)
    try:
        result = deliverer.deliver()
    finally:
        deliverer.close()
    assert result.failed == 0, result


def body(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return str(part.get_payload(decode=True).decode("utf-8"))


def test_a_journeys_survey_step_mails_a_link_whose_page_takes_one_answer(home: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    with Workspace(home) as ws:
        ws.identify(email="anna@acme.fi", account_id="A1", traits={"name": "Anna", "language": "fi", "org_level": "management"})
        ws.identify(email="bo@acme.fi", account_id="A1", traits={"name": "Bo"})
        for who in ("anna", "bo"):
            ws.track("account_activated", "product", email=f"{who}@acme.fi")
        engine = Engine(ws)
        engine.tick()
        assert ws.store.query("SELECT count(*) AS n FROM survey_invites")[0]["n"] == 0  # nothing before the step
        later = utcnow() + timedelta(hours=2)
        engine.tick(later)
        engine.tick(later)  # a rerun queues and invites nothing twice
        rows = ws.store.query("SELECT * FROM survey_invites ORDER BY identity")
        assert [(r["identity"], r["channel"], r["language"]) for r in rows] == [
            ("email:anna@acme.fi", "journey", "fi"), ("email:bo@acme.fi", "journey", None)]
        assert all(r["enrolment_id"].startswith("welcome-survey.") for r in rows)
        deliver(ws, port, later)
        mails = {str(m["To"]): m for m in inbox.messages()}
        assert set(mails) == {"anna@acme.fi", "bo@acme.fi"}
        text = body(mails["anna@acme.fi"])
        assert text.startswith("Hei Anna, miten meni? https://cx.acme.example/s/")
        [link] = LINK.findall(text)
        assert link.rsplit("/", 1)[1].split(".")[0] == rows[0]["invite_id"]
        with TestClient(create_app(ws)) as client:
            path = link.removeprefix("https://cx.acme.example")
            page = client.get(path)
            assert page.status_code == 200 and "Acme teki aloittamisesta helppoa." in page.text
            assert client.post(path, data={"ces": "7"}).status_code == 200
            assert client.post(path, data={"ces": "1"}).status_code == 409
        [event] = ws.store.query("SELECT * FROM events WHERE type = 'survey_answered'")
        props = json.loads(event["properties"])
        assert (props["invite"], props["scores"], props["org_level"], event["channel"]) == (
            rows[0]["invite_id"], {"ces": 7}, "management", "email")


def test_a_trigger_hands_its_invitation_to_a_journey_which_mails_that_one(home: Path, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    with Workspace(home) as ws:
        ws.identify(email="cy@acme.fi", account_id="A2", traits={"name": "Cy"})
        ws.track("onboarding_finished", "product", event_id="onb-1", email="cy@acme.fi")
        ticked = Surveys(ws).tick()
        assert ticked.invites == {"onboarding": 1} and ticked.requested == {"ask-mail": 1}
        Engine(ws).tick()
        deliver(ws, port)
        [mail] = inbox.messages()
        [link] = LINK.findall(body(mail))
        [invite] = ws.store.query("SELECT * FROM survey_invites")
        assert link.rsplit("/", 1)[1].split(".")[0] == invite["invite_id"]
        assert (invite["trigger_event_id"], invite["channel"]) == ("onb-1", "email")
        assert invite["enrolment_id"].startswith("ask-mail.")


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"id": "ask", "send": "ask", "survey": "nope"}, "journeys/j.yaml:6: steps.0.survey: no survey 'nope' (surveys: onboarding)"),
        ({"id": "ask", "send": "plain", "survey": "onboarding"}, "template 'plain' (content/library.yaml) does not show the survey link"),
        ({"id": "ask", "send": "ask"}, "shows {{ survey_url }}, which only a send step with survey: <id> has"),
        ({"id": "ask", "wait": "1d", "survey": "onboarding"}, "survey goes with send"),
    ],
)
def test_survey_steps_are_checked_with_the_journey(home: Path, step: dict[str, Any], words: str) -> None:
    for other in (home / "journeys").iterdir():
        other.unlink()
    write(home, "journeys/j.yaml", {"trigger": {"manual": True}, "steps": [step]})
    with pytest.raises(ConfigError) as caught:
        load_definitions(home)
    assert words in caught.value.message, caught.value.message
