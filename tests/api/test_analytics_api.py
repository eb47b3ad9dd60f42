"""The /v1/analytics routes: one per insight, the query model as the body, clear 422s."""

from __future__ import annotations

import pytest

from polku.analytics import registry

from .conftest import Api


def _journeys(api: Api) -> None:
    for i, email in enumerate(["a@x.fi", "b@x.fi", "c@x.fi"]):
        day = f"2025-01-0{i + 1}"
        api.ws.track("page_view", "web", email=email, ts=f"{day}T10:00:00Z")
        if i < 2:
            api.ws.track("form_submit", "web", email=email, ts=f"{day}T11:00:00Z")
        if i < 1:
            api.ws.track("meeting_held", "meeting", email=email, ts=f"{day}T12:00:00Z")
            api.ws.track("quote_requested", "web", email=email, ts=f"{day}T13:00:00Z")


def test_every_insight_has_a_route_that_needs_a_read_key(api: Api) -> None:
    for name in registry.insights():
        assert api.client.post(f"/v1/analytics/{name}", json={}).status_code == 401


def test_a_funnel_over_http_counts_what_the_store_holds(api: Api) -> None:
    _journeys(api)
    body = {"steps": [{"event": "page_view"}, {"event": "form_submit"}, {"event": "meeting_held"}]}
    r = api.client.post("/v1/analytics/funnel", json=body, headers=api.keys["read"])
    assert r.status_code == 200
    steps = r.json()["steps"]
    assert [(s["entered"], s["converted"]) for s in steps] == [(3, 3), (3, 2), (2, 1)]
    assert steps[1]["median_seconds"] == 3600.0


def test_attribution_over_http_credits_the_converting_journey(api: Api) -> None:
    _journeys(api)
    r = api.client.post("/v1/analytics/attribution", json={"models": ["last_touch", "linear"]},
                        headers=api.keys["read"])
    assert r.status_code == 200
    body = r.json()
    assert body["conversions"] == 1
    credit = {row["channel"]: row["credit"] for row in body["rows"]}
    assert sum(c["linear"] for c in credit.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("funnel", {"steps": []}, "steps"),
        ("funnel", {"steps": [{"event": "page_view"}], "window": "0d"}, "window"),
        ("attribution", {"models": ["magic"]}, "models"),
    ],
)
def test_bad_queries_name_the_field(api: Api, name: str, body: dict[str, object], field: str) -> None:
    r = api.client.post(f"/v1/analytics/{name}", json=body, headers=api.keys["read"])
    assert r.status_code == 422
    assert field in str(r.json()["error"]["details"])
