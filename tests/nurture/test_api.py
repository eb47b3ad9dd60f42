"""The HTTP side: tracking links become events, journeys through the API, reports, and the in-server scheduler."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app

EVERYONE = {"segment": {"trait": "name", "present": True}}


@pytest.fixture
def served(home, identify, smtp, monkeypatch) -> Iterator[tuple[TestClient, Workspace, dict[str, dict[str, str]]]]:  # type: ignore[no-untyped-def]
    """A journey, two contacts and a running app (SMTP to the loopback server)."""
    for key, value in {"HOST": "127.0.0.1", "PORT": str(smtp.port), "SECURITY": "none", "CONNECTIONS": "2"}.items():
        monkeypatch.setenv(f"POLKU_SMTP_{key}", value)
    home.policy(sender={"from": "news@acme.example"}, tracking_url="http://testserver")
    home.journey("welcome", trigger=EVERYONE, goal={"did": "quote_requested", "within": "7d"},
                 steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": f"p{i}@acme.example", "traits": {"name": f"P{i}"}} for i in range(2)])
        keys = {s: {"Authorization": f"Bearer {ws.create_key(s)}"} for s in ("read", "write", "admin")}
        with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
            yield client, ws, keys


def links(message: Any) -> dict[str, str]:
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_content()
    return {
        "click": re.search(r"(http://testserver/t/click/\S+)", text).group(1),  # type: ignore[union-attr]
        "unsubscribe": re.search(r"unsubscribe: (http://testserver/t/unsubscribe/\S+)", text).group(1),  # type: ignore[union-attr]
        "open": re.search(r'src="(http://testserver/t/open/[^"]+)"', html).group(1),  # type: ignore[union-attr]
    }


def test_opens_clicks_and_unsubscribes_become_events_and_a_tampered_link_is_refused(served, smtp) -> None:
    client, ws, keys = served
    tick = client.post("/v1/nurture/tick", headers=keys["admin"])
    assert tick.status_code == 200 and tick.json()["delivery"]["sent"] == 2
    message = next(m for m in smtp.messages if m["To"] == "p0@acme.example")
    link = links(message)
    opened = client.get(link["open"])
    assert opened.status_code == 200 and opened.headers["content-type"] == "image/gif"
    clicked = client.get(link["click"], follow_redirects=False)
    assert clicked.status_code == 302 and clicked.headers["location"] == "https://example.com/guide"
    page = client.get(link["unsubscribe"])
    assert page.status_code == 200 and "<form method=\"post\">" in page.text
    assert not ws.store.query("SELECT 1 FROM events WHERE type = 'unsubscribe'")  # a GET changes nothing
    done = client.post(link["unsubscribe"], content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    events = {r["type"]: r for r in ws.store.query("SELECT type, email, properties FROM events WHERE channel = 'email' AND type <> 'email_sent'")}
    assert set(events) == {"email_open", "email_click", "unsubscribe"}
    assert all(e["email"] == "p0@acme.example" and message["X-Polku-Message"] in e["properties"] for e in events.values())

    body, _, sig = link["click"].rpartition("/")[2].partition(".")
    forged = f"http://testserver/t/click/{body[:-2] + ('A' if body[-2] != 'A' else 'B') + body[-1]}.{sig}"
    refused = client.get(forged, follow_redirects=False)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_token"
    assert "signature does not match" in refused.json()["error"]["message"]
    assert client.get(link["open"].replace("/t/open/", "/t/click/")).status_code == 400  # an open token is no click token
    bad_page = client.get(link["unsubscribe"] + "x")
    assert bad_page.status_code == 400 and "This link does not work" in bad_page.text

    report = client.get("/v1/journeys/welcome/report", headers=keys["read"]).json()
    intro = report["steps"][0]
    assert (intro["sent"], intro["opened"], intro["clicked"]) == (2, 1, 1)
    assert report["enrolled"] == 2 and any("no holdout" in w for w in report["warnings"])
    history = client.get("/v1/contacts/p0@acme.example/journeys", headers=keys["read"]).json()
    assert history["enrolments"][0]["messages"][0]["opened"] is True
    assert [h["outcome"] for h in history["enrolments"][0]["history"]] == ["enrolled", "queued"]


def test_journeys_through_the_api_are_checked_like_files(served) -> None:
    client, ws, keys = served
    bad = "trigger: {manual: true}\nsteps:\n  - id: a\n    send: nope\n"
    refused = client.put("/v1/journeys/vip", content=bad, headers=keys["admin"])
    assert refused.status_code == 422
    detail = refused.json()["error"]["details"][0]
    assert (detail["file"], detail["line"], detail["field"]) == ("journeys/vip.yaml (request body)", 4, "steps.0.send")
    assert "no template 'nope'" in detail["reason"]
    assert not (ws.home / "journeys" / "vip.yaml").exists()
    assert client.put("/v1/journeys/vip", content=bad, headers=keys["write"]).status_code == 403
    good = '{"trigger": {"manual": true}, "priority": 9, "steps": [{"id": "a", "send": "hello"}]}'
    made = client.put("/v1/journeys/vip", content=good, headers=keys["admin"])
    assert made.status_code == 200 and (ws.home / "journeys" / "vip.yaml").exists()
    listed = client.get("/v1/journeys", headers=keys["read"]).json()
    assert [j["id"] for j in listed] == ["vip", "welcome"]
    assert client.get("/v1/journeys/vip", headers=keys["read"]).json()["definition"]["priority"] == 9
    unknown = client.post("/v1/journeys/vip/enrolments", json={"contacts": ["nobody@x.example"]}, headers=keys["write"])
    assert unknown.status_code == 422 and "nothing was queued" in unknown.json()["error"]["message"]
    queued = client.post("/v1/journeys/vip/enrolments", json={"contacts": ["p1@acme.example"]}, headers=keys["write"])
    assert queued.status_code == 202 and queued.json()["queued"] == 1
    client.post("/v1/nurture/tick", params={"deliver": False}, headers=keys["admin"])
    journeys = client.get("/v1/contacts/p1@acme.example/journeys", headers=keys["read"]).json()
    assert {e["journey_id"] for e in journeys["enrolments"]} == {"vip"}  # the higher priority won
    outbox = client.get("/v1/nurture/outbox", params={"status": "pending"}, headers=keys["read"]).json()
    assert outbox["counts"]["pending"] == len(outbox["messages"]) >= 1
    key = outbox["messages"][0]["message_id"]
    not_doubtful = client.post(f"/v1/nurture/outbox/{key}/resolve", json={"action": "sent"}, headers=keys["admin"])
    assert not_doubtful.status_code == 422 and "not in doubt" in not_doubtful.json()["error"]["message"]
    assert client.get("/v1/journeys/nope/report", headers=keys["read"]).status_code == 404


def test_the_scheduler_runs_inside_the_server(home, identify, smtp, monkeypatch) -> None:
    monkeypatch.setenv("POLKU_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("POLKU_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("POLKU_SMTP_SECURITY", "none")
    home.journey("welcome", trigger=EVERYONE, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        identify(ws, [{"email": "s@acme.example", "traits": {"name": "S"}}])
        with TestClient(create_app(ws, refresh_seconds=0.2, nurture=True, nurture_interval=0.2)):
            deadline = time.monotonic() + 30
            while not smtp.raw and time.monotonic() < deadline:
                time.sleep(0.05)
        assert [m["To"] for m in smtp.messages] == ["s@acme.example"]
        assert ws.store.query("SELECT status FROM nurture_outbox")[0]["status"] == "sent"
