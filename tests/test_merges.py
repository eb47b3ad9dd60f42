"""Merges are recorded with their cause and can be undone, restoring both contacts and their events."""

from __future__ import annotations

import pytest

from polku import InvalidInput, NotFound, Workspace


def _shared_laptop(ws: Workspace) -> None:
    ws.track("page_view", "web", anonymous_id="laptop", ts="2025-01-01T09:00:00Z", event_id="a1")
    ws.identify(anonymous_id="laptop", email="anna@acme.fi", ts="2025-01-02T09:00:00Z", event_id="a2")
    ws.track("content_download", "web", email="anna@acme.fi", ts="2025-01-03T09:00:00Z", event_id="a3")
    ws.track("page_view", "web", email="bob@acme.fi", ts="2025-01-04T09:00:00Z", event_id="b1")
    # Bob signs in on Anna's laptop: the cookie now links two people.
    ws.identify(anonymous_id="laptop", email="bob@acme.fi", ts="2025-01-05T09:00:00Z", event_id="b2")
    ws.track("quote_requested", "web", email="bob@acme.fi", ts="2025-01-06T09:00:00Z", event_id="b3")


def test_a_wrong_merge_is_recorded_and_undone(ws: Workspace) -> None:
    _shared_laptop(ws)
    anna = ws.contact("anna@acme.fi")
    assert anna["contact"]["contact_id"] == ws.contact("bob@acme.fi")["contact"]["contact_id"]
    [merge] = ws.merges()
    assert merge["cause"] == "identify" and merge["cause_event_id"] == "b2"
    assert {merge["link_a"], merge["link_b"]} == {"anon:laptop", "email:bob@acme.fi"}
    assert merge in anna["merges"]

    a_id, b_id = ws.unmerge(merge["merge_id"], reason="shared laptop")
    anna, bob = ws.contact("anna@acme.fi"), ws.contact("bob@acme.fi")
    assert anna["contact"]["contact_id"] == a_id != bob["contact"]["contact_id"] == b_id
    assert {e["event_id"] for e in anna["timeline"]} == {"a1", "a2", "a3"}
    assert {e["event_id"] for e in bob["timeline"]} == {"b1", "b2", "b3"}
    assert anna["contact"]["stage"] == "prospect" and bob["contact"]["stage"] == "opportunity"
    assert ws.merges() == []
    # The undo survives a rebuild from the log.
    ws.refresh(force=True)
    assert ws.contact("bob@acme.fi")["contact"]["contact_id"] == b_id


def test_manual_merge_joins_two_people_and_overrides_an_unmerge(ws: Workspace) -> None:
    ws.track("page_view", "web", email="anna@acme.fi", ts="2025-01-01T09:00:00Z")
    ws.track("page_view", "web", email="anna.k@acme.fi", ts="2025-01-02T09:00:00Z")
    cid = ws.merge("anna@acme.fi", "anna.k@acme.fi", reason="same person, two addresses")
    assert ws.contact("anna.k@acme.fi")["contact"]["contact_id"] == cid
    [merge] = ws.merges(contact="anna@acme.fi")
    assert merge["cause"] == "manual"
    ws.unmerge(merge["merge_id"], reason="no, two people")
    assert ws.contact("anna.k@acme.fi")["contact"]["contact_id"] != ws.contact("anna@acme.fi")["contact"]["contact_id"]
    ws.merge("anna@acme.fi", "anna.k@acme.fi", reason="yes after all")
    assert ws.contact("anna.k@acme.fi")["contact"]["contact_id"] == ws.contact("anna@acme.fi")["contact"]["contact_id"]
    assert [(o["kind"], o["reason"]) for o in ws.identity_overrides()] == [("merge", "yes after all")]


def test_merge_and_unmerge_refuse_bad_requests(ws: Workspace) -> None:
    ws.track("page_view", "web", email="anna@acme.fi")
    with pytest.raises(NotFound, match="nobody@acme.fi"):
        ws.merge("anna@acme.fi", "nobody@acme.fi", reason="x")
    with pytest.raises(InvalidInput, match="already the same contact"):
        ws.merge("anna@acme.fi", "anna@acme.fi", reason="x")
    with pytest.raises(InvalidInput, match="reason"):
        ws.merge("anna@acme.fi", "anna@acme.fi", reason=" ")
    with pytest.raises(NotFound, match="m_nope"):
        ws.unmerge("m_nope", reason="x")


def test_contacts_are_matched_to_accounts_by_crm_id_or_company_domain(ws: Workspace, tmp_path: object) -> None:
    from pathlib import Path

    accounts = Path(str(tmp_path)) / "accounts.csv"
    accounts.write_text("account_id,name,domain,industry,employees\nA1,Acme Oy,acme.fi,manufacturing,250\n")
    ws.import_accounts(accounts)
    ws.identify(email="anna@acme.fi", traits={"name": "Anna"})  # company domain → A1
    ws.identify(email="ville@gmail.com", traits={"name": "Ville"})  # free mail → no account
    ws.identify(email="sari@gmail.com", account_id="A1")  # free mail, but the CRM says A1
    ws.identify(email="olli@newco.fi")  # unknown company domain → an account of its own
    assert ws.contact("anna@acme.fi")["contact"]["account_id"] == "A1"
    assert ws.contact("ville@gmail.com")["contact"]["account_id"] is None
    assert ws.contact("sari@gmail.com")["contact"]["account_id"] == "A1"
    assert ws.contact("olli@newco.fi")["contact"]["account_id"] == "newco.fi"
    view = ws.account("acme.fi")
    assert view["account"]["name"] == "Acme Oy"
    assert {m["email"] for m in view["buying_group"]} == {"anna@acme.fi", "sari@gmail.com"}
    with pytest.raises(NotFound):
        ws.account("gmail.com")


def test_a_merged_contact_keeps_its_company_account(ws: Workspace) -> None:
    ws.identify(anonymous_id="phone", email="anna@acme.fi", ts="2025-01-01T09:00:00Z")
    ws.identify(anonymous_id="phone", email="anna.v@gmail.com", ts="2025-02-01T09:00:00Z")
    contact = ws.contact("anna.v@gmail.com")["contact"]
    assert contact["email"] == "anna.v@gmail.com" and contact["account_id"] == "acme.fi"


def test_a_free_mail_contact_is_matched_by_the_account_domain_it_states(ws: Workspace) -> None:
    ws.identify(email="ville@gmail.com", account={"name": "Beta Oy", "domain": "www.Beta.fi"})
    assert ws.contact("ville@gmail.com")["contact"]["account_id"] == "beta.fi"
    ws.identify(email="olli@gmail.com", account={"domain": "hotmail.com"})
    assert ws.contact("olli@gmail.com")["contact"]["account_id"] is None
