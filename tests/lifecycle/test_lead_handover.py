"""Sales accepts or rejects leads with a reason: rejected leads return to prospect and can
qualify again; accepted leads become opportunities; the reasons show in the stage history."""

from __future__ import annotations

import pytest

from polku import InvalidInput, NotFound, Workspace


def _lead(ws: Workspace) -> None:
    ws.track("content_download", "web", email="anna@acme.fi", ts="2025-01-05T09:00:00Z")
    ws.track("lead_qualified", "crm", email="anna@acme.fi", ts="2025-01-10T09:00:00Z",
             properties={"reason": "score 72 (fit A, engagement 2)"})


def test_a_rejected_lead_returns_to_prospect_and_can_qualify_again(ws: Workspace) -> None:
    _lead(ws)
    assert ws.contact("anna@acme.fi")["contact"]["stage"] == "lead"
    ws.decide_lead("anna@acme.fi", "reject", reason="student, no budget", by="sami")
    anna = ws.contact("anna@acme.fi")
    assert anna["contact"]["stage"] == "prospect"
    last = anna["stage_history"][-1]
    assert (last["from_stage"], last["stage"], last["rule"]) == ("lead", "prospect", "recycled")
    assert last["reason"] == "recycled: lead_rejected via crm (student, no budget)"
    assert "score 72 (fit A, engagement 2)" in anna["stage_history"][-2]["reason"]

    ws.track("demo_requested", "web", email="anna@acme.fi")
    assert ws.contact("anna@acme.fi")["contact"]["stage"] == "lead"


def test_an_accepted_lead_becomes_an_opportunity(ws: Workspace) -> None:
    _lead(ws)
    event_id = ws.decide_lead("anna@acme.fi", "accept", reason="budget confirmed")
    anna = ws.contact("anna@acme.fi")
    assert anna["contact"]["stage"] == "opportunity"
    assert anna["stage_history"][-1]["event_id"] == event_id
    assert anna["stage_history"][-1]["reason"].endswith("(budget confirmed)")


def test_a_rejection_only_recycles_a_lead(ws: Workspace) -> None:
    ws.track("content_download", "web", email="bo@acme.fi", ts="2025-01-05T09:00:00Z")
    ws.decide_lead("bo@acme.fi", "reject", reason="not a lead yet")
    assert ws.contact("bo@acme.fi")["contact"]["stage"] == "prospect"
    assert [h["stage"] for h in ws.contact("bo@acme.fi")["stage_history"]] == ["visitor", "suspect", "prospect"]


@pytest.mark.parametrize(
    ("key", "decision", "reason", "error", "words"),
    [
        ("anna@acme.fi", "maybe", "x", InvalidInput, "accept or reject"),
        ("anna@acme.fi", "reject", "  ", InvalidInput, "needs a reason"),
        ("nobody@acme.fi", "accept", "x", NotFound, "nobody@acme.fi"),
    ],
)
def test_bad_decisions_are_refused_and_store_nothing(
    ws: Workspace, key: str, decision: str, reason: str, error: type[Exception], words: str
) -> None:
    _lead(ws)
    before = ws.stats()["events"]
    with pytest.raises(error, match=words):
        ws.decide_lead(key, decision, reason=reason)
    assert ws.stats()["events"] == before
