"""Lifecycle stages: default rules from DOMAIN.md, a YAML override, history with reasons,
and account and journey stages from the buying group."""

from __future__ import annotations

from pathlib import Path

import pytest

from polku import ConfigError, Workspace


def _journey(ws: Workspace) -> None:
    ws.track("page_view", "web", anonymous_id="d1", ts="2025-01-01T09:00:00Z", properties={"path": "/pricing"})
    ws.identify(anonymous_id="d1", email="anna@acme.fi", ts="2025-01-05T09:00:00Z",
                traits={"role": "decision_maker", "org_level": "executive"})
    ws.track("webinar_attended", "event", email="anna@acme.fi", ts="2025-01-10T09:00:00Z")
    ws.track("meeting_held", "meeting", email="anna@acme.fi", ts="2025-02-01T09:00:00Z")
    ws.track("page_view", "web", email="pekka@acme.fi", ts="2025-02-02T09:00:00Z")
    ws.track("quote_requested", "web", email="pekka@acme.fi", ts="2025-02-10T09:00:00Z", value=12000)


def test_default_rules_follow_the_lead_funnel(ws: Workspace) -> None:
    _journey(ws)
    anna = ws.contact("anna@acme.fi")
    moves = [(h["from_stage"], h["stage"], h["rule"]) for h in anna["stage_history"]]
    assert moves == [
        (None, "visitor", "first seen"),
        ("visitor", "suspect", "identified"),
        ("suspect", "prospect", "viewed pricing"),  # interest shown while anonymous counts from identification
        ("prospect", "lead", "sales-ready signal"),
    ]
    assert str(anna["stage_history"][2]["ts"]).startswith("2025-01-05")
    assert anna["stage_history"][3]["reason"] == "sales-ready signal: meeting_held via meeting"
    assert anna["contact"]["journey_stage"] == "pre_purchase"
    pekka = ws.contact("pekka@acme.fi")["contact"]
    assert (pekka["stage"], pekka["journey_stage"]) == ("opportunity", "purchase")


def test_account_stage_comes_from_its_buying_group(ws: Workspace) -> None:
    _journey(ws)
    view = ws.account("acme.fi")
    assert view["account"]["stage"] == "opportunity"
    assert view["account"]["journey_stage"] == "purchase"
    assert [h["stage"] for h in view["stage_history"]] == ["visitor", "suspect", "prospect", "lead", "opportunity"]
    ws.track("order_placed", "crm", email="pekka@acme.fi", ts="2025-03-01T09:00:00Z", value=12000)
    view = ws.account("acme.fi")
    assert (view["account"]["stage"], view["account"]["journey_stage"]) == ("customer", "post_purchase")
    # A new quote after the order: the account is buying again.
    ws.track("quote_requested", "web", email="anna@acme.fi", ts="2025-06-01T09:00:00Z")
    assert ws.account("acme.fi")["account"]["journey_stage"] == "purchase"


def test_anonymous_visitors_stay_visitors(ws: Workspace) -> None:
    ws.track("content_download", "web", anonymous_id="d9", topic="pricing")
    assert ws.contact("d9")["contact"]["stage"] == "visitor"


def test_rules_come_from_the_workspace_file(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "polku.yaml").write_text(
        """lifecycle:
  rules:
    - name: downloaded the buyer's guide
      stage: lead
      types: [content_download]
      topics: [buyers-guide]
"""
    )
    with Workspace(home) as ws:
        ws.track("content_download", "web", email="a@acme.fi", topic="buyers-guide")
        ws.track("content_download", "web", email="b@acme.fi", topic="blog")
        assert ws.contact("a@acme.fi")["contact"]["stage"] == "lead"
        assert ws.contact("b@acme.fi")["contact"]["stage"] == "suspect"


BAD_FILES = [
    ("lifecycle:\n  rules:\n    - name: x\n      stage: champion\n      types: [page_view]\n", 4, "stage"),
    ("lifecycle:\n  rules:\n    - name: x\n      stage: lead\n      types: [Page View]\n", 5, "types"),
    ("lifecycle:\n  rules:\n    - name: x\n      stage: lead\n      types: [page_view]\n      colour: red\n", 6, "colour"),
    ("lifecycle:\n  rules:\n    - name: x\n      stage: lead\n      types: [page_view]\n      properties:\n        path: {like: x}\n", 7, "like"),
    ("lifecycle:\n  rules: [\n", 3, "not valid YAML"),
]


@pytest.mark.parametrize(("text", "line", "word"), BAD_FILES)
def test_bad_rule_files_name_file_line_and_problem(tmp_path: Path, text: str, line: int, word: str) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "polku.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        Workspace(home)
    assert f"polku.yaml:{line}" in info.value.message
    assert word in info.value.message and "Value error" not in info.value.message
