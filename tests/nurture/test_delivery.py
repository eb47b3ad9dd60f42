"""Delivery to a real SMTP server on loopback: what arrives, consent at the last moment, retries, doubt."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from polku import Workspace
from polku.model import utcnow
from polku.nurture.delivery import Deliverer
from polku.nurture.engine import Engine
from polku.nurture.ops import resolve_message
from polku.nurture.settings import SmtpSettings

EVERYONE = {"segment": {"trait": "name", "present": True}}


def people(n: int) -> list[dict[str, Any]]:
    return [{"email": f"p{i}@acme.example", "traits": {"name": f"Person {i}"}} for i in range(n)]


def settings(port: int, **kw: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none", connections=4, **kw)


def body(message: Any, subtype: str) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == f"text/{subtype}")
    return str(part.get_payload(decode=True).decode("utf-8"))


def test_messages_arrive_with_subject_body_unsubscribe_and_a_stable_message_id(home, identify, smtp) -> None:
    home.policy(sender={"from": "Acme News <news@acme.example>", "postal_address": "Acme Oy, Tampere"},
                tracking_url="https://t.acme.example")
    home.journey("welcome", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(3) + [{"email": "aino@acme.example", "traits": {"name": "Äinö", "language": "fi"}}])
        Engine(ws).tick()
        deliverer = Deliverer(ws, settings=settings(smtp.port))
        result = deliverer.deliver()
        deliverer.close()
        assert (result.sent, result.failed, result.in_doubt) == (4, 0, 0)
        keys = {r["recipient"]: r["message_id"] for r in ws.store.query("SELECT recipient, message_id FROM nurture_outbox WHERE status = 'sent'")}
        sent_events = ws.store.query("SELECT event_id FROM events WHERE type = 'email_sent'")
    assert len(sent_events) == 4
    got = {m["To"]: m for m in smtp.messages}
    assert set(got) == set(keys)
    m = got["p1@acme.example"]
    assert m["Subject"] == "Hello Person 1" and m["From"] == "Acme News <news@acme.example>"
    assert re.fullmatch(rf"<{re.escape(keys['p1@acme.example'])}\.[0-9a-f]{{8}}@acme\.example>", m["Message-ID"])
    text, html = body(m, "plain"), body(m, "html")
    unsubscribe = re.search(r"unsubscribe: (https://t\.acme\.example/t/unsubscribe/\S+)", text)
    assert unsubscribe and m["List-Unsubscribe"] == f"<{unsubscribe.group(1)}>"
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hi Person 1," in text and "Acme Oy, Tampere" in text
    assert re.search(r"read our guide: https://t\.acme\.example/t/click/\S+", text)
    assert 'src="https://t.acme.example/t/open/' in html and f'href="{unsubscribe.group(1)}"' in html
    assert str(got["aino@acme.example"]["Subject"]) == "Hei Äinö"


def test_an_unsubscribe_after_the_tick_still_stops_the_email(home, identify, smtp) -> None:
    home.journey("welcome", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(2))
        Engine(ws).tick()
        ws.track("unsubscribe", "email", email="p0@acme.example")
        deliverer = Deliverer(ws, settings=settings(smtp.port))
        result = deliverer.deliver()
        deliverer.close()
        assert (result.sent, result.suppressed) == (1, 1)
        statuses = {r["recipient"]: r["status"] for r in ws.store.query("SELECT recipient, status FROM nurture_outbox")}
    assert statuses == {"p0@acme.example": "suppressed", "p1@acme.example": "sent"}
    assert [m["To"] for m in smtp.messages] == ["p1@acme.example"]


def test_refusals_are_retried_or_failed_by_their_code(home, identify, smtp) -> None:
    home.journey("welcome", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    smtp.refuse = {"p0@acme.example": "451 4.3.0 try again later", "p1@acme.example": "550 5.1.1 no such user"}
    with Workspace(home.path) as ws:
        identify(ws, people(3))
        Engine(ws).tick()
        deliverer = Deliverer(ws, settings=settings(smtp.port, max_attempts=2))
        first = deliverer.deliver()
        assert (first.sent, first.retry, first.failed) == (1, 1, 1)
        row = {r["recipient"]: r for r in ws.store.query("SELECT * FROM nurture_outbox")}
        assert row["p0@acme.example"]["status"] == "pending" and "451" in row["p0@acme.example"]["error"]
        assert row["p0@acme.example"]["next_attempt_at"] > utcnow() + timedelta(seconds=30)
        assert row["p1@acme.example"]["status"] == "failed" and "550" in row["p1@acme.example"]["error"]
        assert deliverer.deliver().sent == 0  # not due again yet
        deliverer.clock = lambda: utcnow() + timedelta(minutes=5)
        smtp.refuse = {}
        assert deliverer.deliver().sent == 1
        deliverer.close()
    assert sorted(m["To"] for m in smtp.messages) == ["p0@acme.example", "p2@acme.example"]


def test_a_lost_reply_after_the_final_dot_is_held_in_doubt_never_resent(home, identify, smtp) -> None:
    home.journey("welcome", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(1))
        Engine(ws).tick()
        smtp.delay = 1.5  # the server takes the message but answers after the client gave up
        deliverer = Deliverer(ws, settings=settings(smtp.port, timeout=0.5))
        result = deliverer.deliver()
        smtp.delay = 0
        assert result.in_doubt == 1 and result.sent == 0
        row = ws.store.query("SELECT * FROM nurture_outbox")[0]
        assert row["status"] == "in_doubt" and row["in_doubt"] == 1
        assert deliverer.deliver().sent == 0  # held: never sent twice on its own
        deliverer.close()
        assert len(smtp.raw) == 1  # it did arrive once
        resolve_message(ws, row["message_id"], "sent", "found in the relay's log")
        assert ws.store.query("SELECT status FROM nurture_outbox")[0]["status"] == "sent"


def test_after_a_crash_sending_is_sent_again_and_committing_is_in_doubt(home, identify, smtp) -> None:
    home.journey("welcome", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(3))
        Engine(ws).tick()
        keys = sorted(r["message_id"] for r in ws.store.query("SELECT message_id FROM nurture_outbox"))
        # what a killed process leaves: claims of another run, one before the final dot, one after
        ws.store.execute("UPDATE nurture_outbox SET status = 'sending', claim = 'deadrun:1' WHERE message_id = ?", [keys[0]])
        ws.store.execute("UPDATE nurture_outbox SET status = 'committing', claim = 'deadrun:1' WHERE message_id = ?", [keys[1]])
        deliverer = Deliverer(ws, settings=settings(smtp.port))
        result = deliverer.deliver()
        assert result.recovered == {"sending": 1, "committing": 1}
        assert (result.sent, result.in_doubt) == (2, 0)
        status = {r["message_id"]: r["status"] for r in ws.store.query("SELECT message_id, status FROM nurture_outbox")}
        assert status == {keys[0]: "sent", keys[1]: "in_doubt", keys[2]: "sent"}
        ws.store.execute("UPDATE nurture_outbox SET status = 'committing', claim = 'deadrun:2' WHERE message_id = ?", [keys[1]])
        resend = Deliverer(ws, settings=settings(smtp.port, in_doubt="resend"))
        assert resend.deliver().sent == 1  # the resend policy sends it (same Message-ID)
        resend.close()
        deliverer.close()
