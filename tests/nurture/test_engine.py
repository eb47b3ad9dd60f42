"""The tick: triggers, audience, consent, holdout, priorities, re-entry, caps, quiet hours, goals and steps."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from polku import Workspace
from polku.errors import InvalidInput
from polku.model import utcnow
from polku.nurture.channels import WebhookChannel
from polku.nurture.delivery import Deliverer
from polku.nurture.engine import Engine
from polku.nurture.ops import request_enrolment
from polku.nurture.scores import scores_from
from polku.nurture.settings import SmtpSettings

EVERYONE = {"segment": {"trait": "name", "present": True}}


def people(n: int, prefix: str = "p", **traits: Any) -> list[dict[str, Any]]:
    return [{"email": f"{prefix}{i}@acme.example", "traits": {"name": f"Person {i}", **traits}} for i in range(n)]


def rows(ws: Workspace, sql: str, *params: Any) -> list[dict[str, Any]]:
    return ws.store.query(sql, list(params))


def enrolments(ws: Workspace, journey: str) -> dict[str, dict[str, Any]]:
    """Enrolments of a journey by contact e-mail."""
    return {r["email"]: r for r in rows(ws, "SELECT n.*, c.email FROM nurture_enrolments n JOIN contacts c USING (contact_id) WHERE journey_id = ?", journey)}


def uniform(text: str) -> float:
    return int(hashlib.md5(text.encode()).hexdigest()[:13], 16) / 2**52


def test_an_event_trigger_enrols_once_and_queues_the_contacts_language(home, identify) -> None:
    home.journey("welcome", trigger={"event": "content_download", "topic": "automation"}, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": "fi@acme.example", "traits": {"name": "Aino", "language": "fi"}},
                      {"email": "en@acme.example", "traits": {"name": "Ann", "language": "en"}},
                      {"email": "other@acme.example", "traits": {"name": "Olli"}}])
        engine = Engine(ws)
        assert engine.tick().enrolled == 0  # events before the journey's first load do not count
        for who, topic in (("fi", "automation"), ("en", "automation"), ("other", "pricing")):
            ws.track("content_download", "web", email=f"{who}@acme.example", topic=topic)
        now = utcnow()
        result = engine.tick(now)
        assert (result.enrolled, result.queued) == (2, 2)
        assert engine.tick(now).queued == 0 and engine.tick().enrolled == 0  # a rerun queues nothing twice
        versions = {r["recipient"]: r["content_version"] for r in rows(ws, "SELECT * FROM nurture_outbox")}
        library = {json.loads(r["definition"]).get("language"): r["version"] for r in rows(ws, "SELECT * FROM nurture_content WHERE content_id = 'hello'")}
        assert versions == {"fi@acme.example": library["fi"], "en@acme.example": library["en"]}
        keys = {r["message_id"] for r in rows(ws, "SELECT message_id FROM nurture_outbox")}
        assert all(k.startswith("welcome.c_") and k.endswith(".1.intro") for k in keys)


def test_the_holdout_is_a_seeded_hash_share(home, identify) -> None:
    home.journey("hold", trigger=EVERYONE, holdout=0.25, seed="s1", steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(400))
        Engine(ws).tick()
        got = {r["contact_id"]: r["arm"] for r in rows(ws, "SELECT contact_id, arm FROM nurture_enrolments")}
        assert len(got) == 400
        expected = {cid: "control" if uniform(f"s1|{cid}") < 0.25 else "treatment" for cid in got}
        assert got == expected  # reproducible from (seed, contact) alone
        share = sum(a == "control" for a in got.values()) / 400
        assert abs(share - 0.25) < 4 * (0.25 * 0.75 / 400) ** 0.5
        assert rows(ws, "SELECT count(*) AS n FROM nurture_outbox")[0]["n"] == 400 - sum(a == "control" for a in got.values())


def test_unsubscribed_contacts_get_no_marketing_even_after_enrolling(home, identify) -> None:
    home.journey("news", trigger=EVERYONE, steps=[{"id": "pause", "wait": "1d"}, {"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(4))
        ws.track("unsubscribe", "email", email="p1@acme.example")
        ws.identify(email="p2@acme.example", traits={"marketing_consent": False})
        engine = Engine(ws)
        now = utcnow()
        engine.tick(now)
        assert sorted(enrolments(ws, "news")) == ["p0@acme.example", "p3@acme.example"]
        ws.track("unsubscribe", "email", email="p3@acme.example")
        engine.tick(now + timedelta(days=2))
        outcomes = {r["email"]: (r["outcome"], r["detail"]) for r in rows(
            ws, "SELECT h.*, c.email FROM nurture_steps h JOIN nurture_enrolments n USING (enrolment_id) "
                "JOIN contacts c USING (contact_id) WHERE h.kind = 'send'")}
        assert outcomes == {"p0@acme.example": ("queued", "hello"), "p3@acme.example": ("skipped", "unsubscribed")}
        ws.identify(email="p1@acme.example", traits={"marketing_consent": True})  # a later yes lifts the unsubscribe
        home.journey("again", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
        engine.tick(now + timedelta(days=3))
        assert "p1@acme.example" in enrolments(ws, "again") and "p2@acme.example" not in enrolments(ws, "again")


def test_opt_in_needs_a_yes(home, identify) -> None:
    home.policy(consent="opt_in")
    home.journey("news", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(2) + [{"email": "yes@acme.example", "traits": {"name": "Y", "marketing_consent": True}}])
        Engine(ws).tick()
        assert list(enrolments(ws, "news")) == ["yes@acme.example"]


def test_the_frequency_cap_counts_every_journey_and_serves_priority_first(home, identify) -> None:
    home.policy(frequency_cap={"messages": 1, "per": "7d"})
    for jid, priority in (("high", 5), ("low", 1)):
        home.journey(jid, trigger=EVERYONE, priority=priority, exclusive=False, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(3))
        engine = Engine(ws)
        now = utcnow()
        engine.tick(now)
        assert {r["journey_id"] for r in rows(ws, "SELECT journey_id FROM nurture_outbox")} == {"high"}
        low = enrolments(ws, "low")
        assert all(r["step_id"] == "intro" and abs(r["due_at"] - (now + timedelta(days=7))) < timedelta(seconds=1) for r in low.values())
        engine.tick(now + timedelta(days=3))
        assert rows(ws, "SELECT count(*) AS n FROM nurture_outbox WHERE journey_id = 'low'")[0]["n"] == 0
        engine.tick(now + timedelta(days=7, seconds=1))
        assert rows(ws, "SELECT count(*) AS n FROM nurture_outbox WHERE journey_id = 'low'")[0]["n"] == 3


def test_quiet_hours_follow_the_contacts_time_zone(home, identify) -> None:
    home.policy(quiet_hours={"start": "20:00", "end": "08:00"}, timezone="UTC")
    home.journey("news", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    zones = {"hki": "Europe/Helsinki", "nyc": "America/New_York", "none": None, "bad": "Not/AZone"}
    with Workspace(home.path) as ws:
        identify(ws, [{"email": f"{k}@acme.example", "traits": {"name": k, **({"timezone": z} if z else {})}} for k, z in zones.items()])
        now = datetime.combine(utcnow().date() + timedelta(days=1), time(21, 0), tzinfo=UTC)
        Engine(ws).tick(now)
        queued = {r["recipient"].split("@")[0] for r in rows(ws, "SELECT recipient FROM nurture_outbox")}
        got = enrolments(ws, "news")
        for key, zone in zones.items():
            tz = ZoneInfo(zone if zone and zone != "Not/AZone" else "UTC")
            local = now.astimezone(tz)
            quiet = local.time() >= time(20) or local.time() < time(8)
            assert (key in queued) == (not quiet), key
            if quiet:
                day = local.date() + timedelta(days=1) if local.time() >= time(20) else local.date()
                resume = datetime.combine(day, time(8), tzinfo=tz).astimezone(UTC)
                assert got[f"{key}@acme.example"]["due_at"] == resume, key
        assert queued == {"nyc"}


def test_a_higher_priority_journey_preempts_and_a_lower_one_waits(home, identify) -> None:
    for jid, priority in (("a", 1), ("b", 5), ("c", 0)):
        home.journey(jid, trigger={"manual": True}, priority=priority, steps=[{"id": "w", "wait": "10d"}])
    with Workspace(home.path) as ws:
        identify(ws, people(2))
        engine = Engine(ws)
        x, y = "p0@acme.example", "p1@acme.example"
        request_enrolment(ws, "a", [x], source="test")
        engine.tick()
        assert enrolments(ws, "a")[x]["status"] == "active"
        request_enrolment(ws, "b", [x, y], source="test")
        request_enrolment(ws, "a", [y], source="test")
        engine.tick()
        assert (enrolments(ws, "a")[x]["status"], enrolments(ws, "a")[x]["end_reason"]) == ("exited", "pre-empted by journey b")
        assert enrolments(ws, "b")[x]["status"] == "active" and enrolments(ws, "b")[y]["status"] == "active"
        assert y not in enrolments(ws, "a")
        request_enrolment(ws, "c", [x], source="test")
        engine.tick()
        results = {r["journey_id"]: r["result"] for r in rows(ws, "SELECT * FROM nurture_requests WHERE contact_id = (SELECT contact_id FROM contacts WHERE email = ?) ORDER BY requested_at", y)}
        assert results == {"b": "enrolled", "a": "a higher-priority journey won: b"}
        assert rows(ws, "SELECT result FROM nurture_requests WHERE journey_id = 'c'")[0]["result"] == "in journey b of equal or higher priority"


def test_reentry_rules(home, identify) -> None:
    home.journey("once", trigger={"manual": True}, steps=[{"id": "w", "wait": "1d"}])
    home.journey("monthly", trigger={"manual": True}, reentry="30d", steps=[{"id": "w", "wait": "1d"}], exclusive=False)
    home.journey("loop", trigger={"manual": True}, reentry="after_exit", steps=[{"id": "w", "wait": "1d"}], exclusive=False)
    with Workspace(home.path) as ws:
        identify(ws, people(1))
        engine = Engine(ws)
        x = "p0@acme.example"
        now = utcnow()
        for jid in ("once", "monthly", "loop"):
            request_enrolment(ws, jid, [x], source="test")
        engine.tick(now)
        for jid in ("once", "monthly", "loop"):
            request_enrolment(ws, jid, [x], source="test")
        engine.tick(now + timedelta(hours=1))
        engine.tick(now + timedelta(days=2))  # every first entry completes
        for jid in ("once", "monthly", "loop"):
            request_enrolment(ws, jid, [x], source="test")
        engine.tick(now + timedelta(days=2, hours=1))
        results = [(r["journey_id"], r["result"]) for r in rows(ws, "SELECT * FROM nurture_requests ORDER BY requested_at")]
        assert results == [
            ("once", "enrolled"), ("monthly", "enrolled"), ("loop", "enrolled"),
            ("once", "already in the journey"), ("monthly", "already in the journey"), ("loop", "already in the journey"),
            ("once", "went through the journey before (reentry: never)"), ("monthly", "entered too recently to re-enter"), ("loop", "enrolled"),
        ]
        assert enrolments(ws, "loop")[x]["entry"] == 2


def test_the_goal_ends_the_journey_and_is_counted_in_both_arms(home, identify) -> None:
    home.journey("convert", trigger=EVERYONE, holdout=0.5, goal={"did": "quote_requested", "within": "14d"},
                 steps=[{"id": "pause", "wait": "5d"}, {"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, people(40))
        engine = Engine(ws)
        now = utcnow()
        engine.tick(now)
        arms = {e: r["arm"] for e, r in enrolments(ws, "convert").items()}
        winners = [e for e in sorted(arms)][:20]
        for e in winners:
            ws.track("quote_requested", "web", email=e)
        engine.tick(now + timedelta(days=1))
        engine.tick(now + timedelta(days=6))
        after = enrolments(ws, "convert")
        for e, r in after.items():
            assert (r["goal_at"] is not None) == (e in winners)
            if arms[e] == "treatment":
                assert r["status"] == ("goal" if e in winners else "completed")
            else:
                assert r["status"] == "holdout" and r["step_id"] is None
        sent_to = {r["recipient"] for r in rows(ws, "SELECT recipient FROM nurture_outbox")}
        assert sent_to == {e for e, a in arms.items() if a == "treatment" and e not in winners}


def test_wait_for_an_event_with_a_timeout_then_branch_and_split(home, identify) -> None:
    home.journey("flow", trigger=EVERYONE, seed="flow-seed", steps=[
        {"id": "intro", "send": "hello"},
        {"id": "wait-click", "wait_for": {"until": {"clicked": "intro"}, "timeout": "2d", "on_timeout": "nudge"}},
        {"id": "ab", "split": [{"name": "a", "weight": 1, "next": "end"}, {"name": "b", "weight": 1, "next": "end"}]},
        {"id": "nudge", "branch": {"if": {"trait": "role", "equals": "user"}, "then": "end", "else": "end"}},
    ])
    with Workspace(home.path) as ws:
        identify(ws, people(10, role="user") + people(10, prefix="q"))
        engine = Engine(ws)
        now = utcnow()
        engine.tick(now)
        outbox = {r["recipient"]: r["message_id"] for r in rows(ws, "SELECT recipient, message_id FROM nurture_outbox")}
        clickers = ["p0@acme.example", "p1@acme.example", "q0@acme.example", "q1@acme.example", "q2@acme.example"]
        for e in clickers:
            ws.track("email_click", "email", email=e, properties={"message_id": outbox[e]})
        engine.tick(now + timedelta(hours=1))
        state = enrolments(ws, "flow")
        assert {e for e, r in state.items() if r["status"] == "completed"} == set(clickers)
        engine.tick(now + timedelta(days=3))
        history = rows(ws, "SELECT h.step_id, h.outcome, c.email, h.enrolment_id FROM nurture_steps h JOIN nurture_enrolments n USING (enrolment_id) JOIN contacts c USING (contact_id)")
        waits = {r["email"]: r["outcome"] for r in history if r["step_id"] == "wait-click"}
        assert waits == {e: "condition met" if e in clickers else "timed out" for e in outbox}
        branches = {r["email"]: r["outcome"] for r in history if r["step_id"] == "nudge"}
        assert branches == {e: "then" if e.startswith("p") else "else" for e in outbox if e not in clickers}
        for r in history:
            if r["step_id"] == "ab":
                assert r["outcome"] == ("variant a" if uniform(f"flow-seed|{r['enrolment_id']}|ab") < 0.5 else "variant b")
        assert all(r["status"] == "completed" for r in enrolments(ws, "flow").values())


def test_stage_notify_webhook_and_enrol_steps(home, identify) -> None:
    home.journey("hot", trigger={"manual": True}, steps=[
        {"id": "qualify", "set_stage": "lead"},
        {"id": "tell", "notify_owner": {"template": "owner-note", "fallback": "sales@our.example"}},
        {"id": "crm", "webhook": {"url": "https://crm.example/tasks"}},
        {"id": "follow", "enrol": "followup"},
    ])
    home.journey("followup", trigger={"stage": "lead"}, exclusive=False, steps=[{"id": "w", "wait": "1d"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": "x@acme.example", "traits": {"name": "X"}, "account": {"name": "Acme", "owner": "olli@our.example"}},
                      {"email": "y@other.example", "traits": {"name": "Y"}}])
        engine = Engine(ws)
        request_enrolment(ws, "hot", ["x@acme.example", "y@other.example"], source="test")
        engine.tick()
        ws.refresh()
        assert {r["email"]: r["stage"] for r in rows(ws, "SELECT email, stage FROM contacts")} == {"x@acme.example": "lead", "y@other.example": "lead"}
        reasons = [r["reason"] for r in rows(ws, "SELECT reason FROM stage_history WHERE stage = 'lead' AND subject = 'contact'")]
        assert reasons and all("nurture journey hot, step qualify" in r for r in reasons)
        notes = {r["recipient"] for r in rows(ws, "SELECT recipient FROM nurture_outbox WHERE purpose = 'notify'")}
        assert notes == {"olli@our.example", "sales@our.example"}
        engine.tick()  # the stage trigger and the enrol step both ask; the contact enters once
        assert len(enrolments(ws, "followup")) == 2
        assert {r["result"] for r in rows(ws, "SELECT result FROM nurture_requests WHERE journey_id = 'followup'")} == {"enrolled"}
        seen: list[httpx.Request] = []
        transport = httpx.MockTransport(lambda request: (seen.append(request), httpx.Response(201))[1])
        deliverer = Deliverer(ws, settings=SmtpSettings(), channels={"webhook": WebhookChannel(transport=transport)})
        result = deliverer.deliver()
        deliverer.close()
        assert result.sent == 2 and result.waiting == {"email": 2}
        bodies = {json.loads(r.content)["contact"]["email"]: r for r in seen}
        assert set(bodies) == {"x@acme.example", "y@other.example"}
        req = bodies["x@acme.example"]
        assert req.headers["Idempotency-Key"] == json.loads(req.content)["message_id"]
        assert json.loads(req.content)["account"]["owner"] == "olli@our.example"


def test_a_score_trigger_reads_the_score_source_it_is_given(home, identify) -> None:
    home.journey("scored", trigger={"score": 50}, steps=[{"id": "w", "wait": "1d"}])
    with Workspace(home.path) as ws:
        identify(ws, people(2))
        ws.refresh()
        ids = {r["email"]: r["contact_id"] for r in rows(ws, "SELECT email, contact_id FROM contacts")}
        scores = {ids["p0@acme.example"]: 40.0, ids["p1@acme.example"]: 60.0}
        engine = Engine(ws, scores=lambda store: scores_from(scores))
        engine.tick()
        assert list(enrolments(ws, "scored")) == ["p1@acme.example"]
        scores[ids["p0@acme.example"]] = 70.0
        engine.tick()
        assert sorted(enrolments(ws, "scored")) == ["p0@acme.example", "p1@acme.example"]
        assert "no score source" in Engine(ws).tick().warnings[0]


def test_manual_enrolment_refuses_unknown_contacts_and_journeys(home, identify) -> None:
    home.journey("m", trigger={"manual": True}, steps=[{"id": "w", "wait": "1d"}])
    with Workspace(home.path) as ws:
        identify(ws, people(1))
        with pytest.raises(InvalidInput, match="no contact for 1 of the keys: nobody@x.example; nothing was queued"):
            request_enrolment(ws, "m", ["p0@acme.example", "nobody@x.example"], source="test")
        assert rows(ws, "SELECT count(*) AS n FROM nurture_requests")[0]["n"] == 0
        with pytest.raises(Exception, match="no journey 'zz'"):
            request_enrolment(ws, "zz", ["p0@acme.example"], source="test")


def test_the_contact_360_view_shows_its_journeys(home, identify) -> None:
    home.journey("welcome", trigger={"event": "content_download", "topic": "automation"}, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": "ann@acme.example", "traits": {"name": "Ann", "language": "en"}}])
        engine = Engine(ws)
        engine.tick()
        assert ws.contact("ann@acme.example")["journeys"] == []
        ws.track("content_download", "web", email="ann@acme.example", topic="automation")
        engine.tick(utcnow())
        journeys = ws.contact("ann@acme.example")["journeys"]
        assert [j["journey_id"] for j in journeys] == ["welcome"]
        assert journeys[0]["messages"] and journeys[0]["messages"][0]["step_id"] == "intro"
