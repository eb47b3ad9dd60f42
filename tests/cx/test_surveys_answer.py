"""The answer page over real HTTP (TestClient, real workspace): one answer is one event; every bad request
gets its status and a clear page, and stores nothing."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app
from polku.cx.surveys import Asked, Occasion, Surveys, tokens
from polku.model import utcnow
from polku.store.writer import Writer

SURVEY = """\
title: {en: "How was your onboarding?", fi: "Miten käyttöönotto sujui?"}
intro: {en: "Three quick questions.", fi: "Kolme nopeaa kysymystä."}
thanks: {en: "Thanks, we read every answer.", fi: "Kiitos, luemme jokaisen vastauksen."}
questions:
  - id: ces
    type: ces
    text: {en: "Acme made it easy to get started.", fi: "Acme teki aloittamisesta helppoa."}
  - id: nps
    type: nps
    text: {en: "Would you recommend Acme?", fi: "Suosittelisitko Acmea?"}
  - id: area
    type: choice
    required: false
    text: {en: "What helped most?", fi: "Mikä auttoi eniten?"}
    choices:
      - {id: docs, label: {en: Documentation, fi: Ohjeet}}
      - {id: people, label: {en: Our people, fi: Ihmiset}}
  - id: comment
    type: text
    max_length: 300
    text: {en: "Anything else?", fi: "Muuta kerrottavaa?"}
"""
GOOD = {"ces": "6", "nps": "9", "area": "docs", "comment": "Quick and clear."}


@dataclass
class Site:
    client: TestClient
    ws: Workspace
    keys: dict[str, dict[str, str]]

    def invite(self, *contacts: str, **body: Any) -> list[dict[str, Any]]:
        r = self.client.post("/v1/cx/surveys/onboarding/invites", json={"contacts": list(contacts), **body},
                             headers=self.keys["write"])
        assert r.status_code == 201, r.text
        return list(r.json()["invites"])

    def answers(self, invite: dict[str, Any]) -> list[dict[str, Any]]:
        """The stored answers of one invitation."""
        return self.ws.store.query(
            "SELECT * FROM events WHERE type = 'survey_answered' AND json_extract_string(properties, '$.invite') = ? ORDER BY seq",
            [invite["invite_id"]],
        )

    def counts(self) -> dict[str, Any]:
        return dict(self.client.get("/v1/cx/surveys/onboarding", headers=self.keys["read"]).json())


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One server over one workspace for the whole file: each test makes invitations of its own."""
    home = tmp_path_factory.mktemp("surveys") / "ws"
    (home / "surveys").mkdir(parents=True)
    (home / "surveys" / "onboarding.yaml").write_text(SURVEY, encoding="utf-8")
    with Workspace(home) as ws:
        ws.identify(email="anna@acme.fi", crm_id="C-1", account_id="A1",
                    traits={"name": "Anna", "role": "decision_maker", "org_level": "executive", "language": "fi"})
        ws.identify(email="bo@acme.fi", account_id="A1", traits={"name": "Bo", "role": "user", "org_level": "operational"})
        ws.track("order_placed", "web", email="bo@acme.fi", account_id="A1", value=1200.0)
        ws.track("ticket_closed", "service", email="anna@acme.fi", event_id="ticket-42", properties={"priority": "high"})
        keys = {s: {"Authorization": f"Bearer {ws.create_key(s)}"} for s in ("read", "write")}
        with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
            yield Site(client, ws, keys)


def test_an_answer_is_one_event_tied_to_contact_account_trigger_phase_and_role(site: Site) -> None:
    before = site.counts()
    [invite] = site.invite("anna@acme.fi", channel="email", trigger_event_id="ticket-42")
    assert invite["language"] == "fi" and invite["trigger"] == {"event_id": "ticket-42", "type": "ticket_closed"}
    page = site.client.get(path_of(invite["url"]))
    assert page.status_code == 200 and "Miten käyttöönotto sujui?" in page.text and 'name="nps" value="10"' in page.text
    done = site.client.post(path_of(invite["url"]), data={**GOOD, "_lang": "fi"})
    assert done.status_code == 200 and "Kiitos!" in done.text and "luemme jokaisen vastauksen" in done.text
    [event] = site.answers(invite)
    props = json.loads(event["properties"])
    assert props == {
        "survey": "onboarding", "response": f"{invite['invite_id']}.1", "invite": invite["invite_id"],
        "scores": {"ces": 6, "nps": 9}, "answers": {"ces": 6, "nps": 9, "area": "docs", "comment": "Quick and clear."},
        "comment": "Quick and clear.", "language": "fi", "trigger": {"event_id": "ticket-42", "type": "ticket_closed"},
        "phase": "post-purchase", "role": "decision_maker", "org_level": "executive",
    }
    assert (event["channel"], event["value"], event["crm_id"], event["account_id"]) == ("email", 6.0, "C-1", "A1")
    site.ws.refresh()
    tp = site.ws.tables().touchpoints
    row = tp.filter(tp.event_id == event["event_id"]).select("contact_id", "account_id").execute().to_dict("records")
    assert row == [{"contact_id": invite["contact_id"], "account_id": "A1"}]
    after = site.counts()
    assert [after[k] - before[k] for k in ("invites", "answered", "answers", "open")] == [1, 1, 1, 0]


def test_a_second_answer_is_refused_with_409_and_stores_nothing(site: Site) -> None:
    [invite] = site.invite("anna@acme.fi")
    assert site.client.post(path_of(invite["url"]), data=GOOD).status_code == 200
    again = site.client.post(path_of(invite["url"]), data={**GOOD, "nps": "0"})
    assert again.status_code == 409 and "Kyselyyn on jo vastattu" in again.text
    assert site.client.get(path_of(invite["url"])).status_code == 409
    assert len(site.answers(invite)) == 1


def test_racing_answers_to_one_invitation_store_one(site: Site) -> None:
    """Both submissions pass the first check before either is written; the writer stores only one."""
    surveys = Surveys(site.ws)
    [made] = surveys.invite("onboarding", ["bo@acme.fi"], Occasion(), "http://x")
    token = made["url"].rsplit("/", 1)[1]
    writer = Writer(site.ws.store, idle_seconds=60)
    both_checked = threading.Barrier(2)

    def run(job: Callable[[], Any]) -> Any:
        both_checked.wait(timeout=30)
        return writer.submit(job)

    pages: list[int] = []
    threads = [threading.Thread(target=lambda: pages.append(surveys.answer(token, GOOD, Asked(), run=run).status))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    writer.close()
    assert sorted(pages) == [200, 409]
    assert len(site.answers(made)) == 1


def test_forged_truncated_and_foreign_links_get_400_and_unknown_invitations_404(site: Site) -> None:
    [invite] = site.invite("anna@acme.fi")
    path = path_of(invite["url"])
    forged = path[:-1] + ("A" if path[-1] != "A" else "B")
    foreign = "/s/" + tokens.make("00" * 32, invite["invite_id"])
    other_id = "/s/" + tokens.make(str(site.ws.store.meta(tokens.SECRET_KEY)), tokens.new_invite_id())
    for bad, status in ((forged, 400), (path[:-5], 400), (path.split(".")[0], 400), (foreign, 400), (other_id, 404)):
        assert site.client.get(bad).status_code == status, bad
        r = site.client.post(bad, data=GOOD)
        assert r.status_code == status and "<form" not in r.text, bad
    assert "This link does not work" in site.client.get(forged, headers={"Accept-Language": "en"}).text
    assert site.answers(invite) == []


def test_an_expired_invitation_gets_410_and_stores_nothing(site: Site) -> None:
    surveys = Surveys(site.ws)
    [made] = surveys.invite("onboarding", ["bo@acme.fi"], Occasion(), "http://x", now=utcnow() - timedelta(days=31))
    page = site.client.get(path_of(made["url"]))
    assert page.status_code == 410 and "This survey has closed" in page.text
    assert site.client.post(path_of(made["url"]), data=GOOD).status_code == 410
    assert site.answers(made) == []


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"nps": "11"}, 422, "Choose a value from 0 to 10."),
        ({"nps": "-1"}, 422, "Choose a value from 0 to 10."),
        ({"ces": "six"}, 422, "Choose a value from 1 to 7."),
        ({"nps": ""}, 422, "Please answer this question."),
        ({"area": "price"}, 422, "Choose one of the options shown."),
        ({"comment": "x" * 301}, 422, "at most 300 characters (it has 301)"),
        ({"comment": "x" * 10_001}, 413, "at most 300 characters"),
    ],
)
def test_bad_answers_show_the_form_again_with_the_problem_and_store_nothing(site: Site, change: dict[str, str],
                                                                            status: int, message: str) -> None:
    [invite] = site.invite("bo@acme.fi")
    r = site.client.post(path_of(invite["url"]), data={**GOOD, **change})
    assert r.status_code == status
    assert message in r.text and 'role="alert"' in r.text
    assert 'name="ces" value="6" checked' in r.text or change.get("ces")  # the earlier input is kept
    assert site.answers(invite) == []
    assert site.client.post(path_of(invite["url"]), data=GOOD).status_code == 200  # the link still works


def test_an_oversized_body_is_refused_before_it_is_read(site: Site) -> None:
    [invite] = site.invite("bo@acme.fi")
    r = site.client.post(path_of(invite["url"]), data={**GOOD, "comment": "x" * 70_000})
    assert r.status_code == 413 and "too long" in r.text
    assert site.answers(invite) == []


def test_what_people_typed_is_escaped_everywhere(site: Site) -> None:
    [invite] = site.invite("bo@acme.fi")
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = site.client.post(path_of(invite["url"]), data={**GOOD, "nps": "12", "comment": attack})
    assert r.status_code == 422
    assert "<script>" not in r.text and "<img" not in r.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in r.text
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no script runs at all
    assert site.client.post(path_of(invite["url"]), data={**GOOD, "comment": attack}).status_code == 200
    assert json.loads(site.answers(invite)[0]["properties"])["comment"] == attack  # stored as typed, escaped when shown


def test_the_language_is_the_invitations_then_the_browsers_then_english(site: Site) -> None:
    [finnish] = site.invite("anna@acme.fi")  # her language trait is fi
    [unknown] = site.invite("bo@acme.fi")
    assert unknown["language"] is None
    fi = site.client.get(path_of(finnish["url"]), headers={"Accept-Language": "en"})
    assert '<html lang="fi">' in fi.text and "Suosittelisitko Acmea?" in fi.text and "Lähetä vastaukset" in fi.text
    assert "En lainkaan todennäköisesti" in fi.text and "pakollinen" in fi.text
    by_browser = site.client.get(path_of(unknown["url"]), headers={"Accept-Language": "fi-FI,fi;q=0.9,en;q=0.8"})
    assert '<html lang="fi">' in by_browser.text
    assert '<html lang="en">' in site.client.get(path_of(unknown["url"]), headers={"Accept-Language": "sv"}).text
    asked = site.client.get(path_of(finnish["url"]) + "?lang=en")
    assert "Would you recommend Acme?" in asked.text and "Not at all likely" in asked.text
    wrong = site.client.post(path_of(unknown["url"]), data={**GOOD, "nps": "", "_lang": "fi"})
    assert "Vastaa tähän kysymykseen." in wrong.text  # the form's language carries over to its errors


def test_the_embedded_page_may_be_framed_and_the_normal_one_not(site: Site) -> None:
    [invite] = site.invite("bo@acme.fi", channel="portal")
    framed = site.client.get(path_of(invite["embed_url"]))
    assert framed.status_code == 200 and '<body class="embed">' in framed.text
    assert "frame-ancestors *" in framed.headers["content-security-policy"] and "x-frame-options" not in framed.headers
    normal = site.client.get(path_of(invite["url"]))
    assert normal.headers["x-frame-options"] == "DENY" and normal.headers["referrer-policy"] == "no-referrer"
    done = site.client.post(path_of(invite["embed_url"]), data=GOOD)
    assert done.status_code == 200 and '<body class="embed">' in done.text
    [event] = site.answers(invite)
    assert json.loads(event["properties"])["language"] == "en" and event["channel"] == "web"


def test_a_portal_lists_a_contacts_open_invitations(site: Site) -> None:
    def open_ids(key: str) -> list[str]:
        listed = site.client.get(f"/v1/cx/contacts/{key}/invites", headers=site.keys["read"]).json()
        assert all(i["embed_url"] == i["url"] + "?embed=1" for i in listed["invites"])
        return [i["invite_id"] for i in listed["invites"]]

    [invite] = site.invite("anna@acme.fi", channel="portal")
    assert site.client.get("/v1/cx/contacts/anna@acme.fi/invites").status_code == 401
    assert open_ids("C-1")[0] == invite["invite_id"]  # newest first, by any of her identifiers
    site.client.post(path_of(invite["url"]), data=GOOD)
    assert invite["invite_id"] not in open_ids("anna@acme.fi")


def test_invitations_are_all_or_nothing_with_clear_errors(site: Site) -> None:
    w = site.keys["write"]
    before = site.counts()["invites"]
    unknown = site.client.post("/v1/cx/surveys/onboarding/invites", json={"contacts": ["anna@acme.fi", "nobody@x.fi"]}, headers=w)
    assert unknown.status_code == 422 and "nobody@x.fi" in unknown.json()["error"]["message"]
    missing = site.client.post("/v1/cx/surveys/nope/invites", json={"contacts": ["anna@acme.fi"]}, headers=w)
    assert missing.status_code == 404 and "onboarding" in missing.json()["error"]["message"]
    bad_lang = site.client.post("/v1/cx/surveys/onboarding/invites", json={"contacts": ["bo@acme.fi"], "language": "sv"}, headers=w)
    assert bad_lang.status_code == 422 and "no language 'sv'" in bad_lang.json()["error"]["message"]
    no_event = site.client.post("/v1/cx/surveys/onboarding/invites",
                                json={"contacts": ["bo@acme.fi"], "trigger_event_id": "nope"}, headers=w)
    assert no_event.status_code == 422
    assert site.client.post("/v1/cx/surveys/onboarding/invites", json={"contacts": ["bo@acme.fi"]},
                            headers=site.keys["read"]).status_code == 403
    listed = site.client.get("/v1/cx/surveys", headers=site.keys["read"]).json()
    assert [(s["id"], s["invites"]) for s in listed] == [("onboarding", before)]


def test_the_pages_copy_of_an_invitation_never_lets_a_second_answer_in(site: Site) -> None:
    """The page reads an in-memory copy; storing an answer always checks the database."""
    [invite] = site.invite("bo@acme.fi")
    path = path_of(invite["url"])
    assert site.client.get(path).status_code == 200  # the server now holds a copy of the open invitation
    elsewhere = Surveys(site.ws)  # answers stored by another object: the server's copy cannot know
    assert elsewhere.answer(path.removeprefix("/s/"), GOOD, Asked()).status == 200
    assert site.client.get(path).status_code == 200  # stale: the form is still shown ...
    assert site.client.post(path, data=GOOD).status_code == 409  # ... but the answer is refused
    assert site.client.get(path).status_code == 409  # and the copy has caught up
    assert len(site.answers(invite)) == 1
