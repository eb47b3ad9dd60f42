"""The HTTP API: keys on every /v1 route, batch results item by item, clear 4xx errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from polku.model import MAX_BATCH

from .conftest import Api

EVENT = {"type": "page_view", "channel": "web", "anonymous_id": "d1", "ts": "2025-01-01T10:00:00Z"}


def error_shape(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]  # type: ignore[no-any-return]


def _v1_operations(api: Api) -> list[tuple[str, str]]:
    """Every /v1 operation the OpenAPI spec lists, with each path parameter filled in."""
    spec = api.client.get("/openapi.json").json()
    return sorted(
        (method, re.sub(r"\{[^}]+\}", "x", path))
        for path, ops in spec["paths"].items()
        if path.startswith("/v1")
        for method in ops
    )


def test_every_v1_route_needs_a_valid_key(api: Api) -> None:
    operations = _v1_operations(api)
    assert ("post", "/v1/events") in operations and len(operations) >= 20
    for method, path in operations:
        for headers in ({}, {"Authorization": "Bearer pk_nope_nope"}, {"Authorization": "Basic abc"}):
            r = api.client.request(method, path, headers=headers)
            assert r.status_code == 401, (method, path, headers)
            assert error_shape(r.json())["code"] == "unauthorized"


def test_health_and_landing_need_no_key_and_show_no_data(api: Api) -> None:
    assert set(api.client.get("/health").json()) == {"status", "version"}
    assert "/docs" in api.client.get("/").text


def test_scopes_are_enforced(api: Api) -> None:
    r = api.client.post("/v1/events", json=[EVENT], headers=api.keys["read"])
    assert r.status_code == 403 and "write" in error_shape(r.json())["message"]
    r = api.client.post("/v1/merges/m_x/undo", json={"reason": "x"}, headers=api.keys["write"])
    assert r.status_code == 403


def test_admins_manage_keys_while_the_server_runs(api: Api) -> None:
    r = api.client.post("/v1/keys", json={"scope": "read", "name": "dashboard"}, headers=api.keys["admin"])
    assert r.status_code == 201
    new = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.client.get("/v1/stats", headers=new).status_code == 200
    listed = api.client.get("/v1/keys", headers=api.keys["admin"]).json()
    assert {"key_id": r.json()["key_id"], "scope": "read", "name": "dashboard"}.items() <= next(
        k for k in listed if k["key_id"] == r.json()["key_id"]).items()
    assert r.json()["token"].split("_", 2)[2] not in str(listed)
    assert api.client.delete(f"/v1/keys/{r.json()['key_id']}", headers=api.keys["admin"]).status_code == 204
    assert api.client.get("/v1/stats", headers=new).status_code == 401  # at once, despite the cache
    assert api.client.delete(f"/v1/keys/{r.json()['key_id']}", headers=api.keys["admin"]).status_code == 404
    bad = api.client.post("/v1/keys", json={"scope": "root"}, headers=api.keys["admin"])
    assert bad.status_code == 422 and "scope must be one of" in bad.json()["error"]["message"]
    assert api.client.get("/v1/keys", headers=api.keys["write"]).status_code == 403


def test_revoked_keys_stop_working(api: Api) -> None:
    token = api.ws.create_key("read")
    _, key_id, secret = token.split("_", 2)
    assert api.client.get("/v1/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    api.ws.revoke_key(key_id)
    # The server caches a good key for a minute; a new server (or the cache expiring) refuses it.
    assert secret not in repr(api.ws.list_keys())  # listings never show secrets
    with pytest.raises(Exception, match="not valid"):
        api.ws.authorize(token, "read")


def test_a_batch_reports_each_item(api: Api) -> None:
    batch = [
        {**EVENT, "event_id": "e1"},
        {**EVENT, "channel": "fax"},
        {**EVENT, "event_id": "e1"},
        {"type": "page_view", "channel": "web"},
        "not an object",
        {**EVENT, "ts": "2999-01-01T00:00:00Z"},
    ]
    r = api.client.post("/v1/events", json={"events": batch}, headers=api.keys["write"])
    body = r.json()
    assert r.status_code == 200
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 4)
    rejected = {item["index"]: item["errors"][0]["field"] for item in body["items"]["rejected"]}
    assert rejected == {1: "channel", 3: "event", 4: "item", 5: "ts"}
    assert body["items"]["duplicates"] == [{"index": 2, "event_id": "e1"}]
    again = api.client.post("/v1/events", json=[{**EVENT, "event_id": "e1"}], headers=api.keys["write"]).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert api.ws.store.query("SELECT count(*) AS n FROM events")[0]["n"] == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 422, "not valid JSON"),
        (b"[]", 422, "empty"),
        (b"42", 422, "JSON list"),
        (b'[{"type": "page_view", "channel": "nope", "anonymous_id": "d"}]', 422, "no item"),
    ],
)
def test_bad_bodies_get_clear_errors(api: Api, body: bytes, status: int, words: str) -> None:
    r = api.client.post("/v1/events", content=body, headers=api.keys["write"])
    assert r.status_code == status
    assert words in error_shape(r.json())["message"]
    assert api.ws.store.last_seq == 0


def test_channel_names_are_forgiving_in_case_and_spaces(api: Api) -> None:
    r = api.client.post("/v1/events", json=[{**EVENT, "channel": " Web "}], headers=api.keys["write"])
    assert r.json()["accepted"] == 1


def test_an_oversized_body_is_refused_before_it_is_read(api: Api) -> None:
    headers = {**api.keys["write"], "content-length": str(64 * 1024 * 1024), "content-type": "application/json"}
    r = api.client.post("/v1/events", content=b"[]", headers=headers)
    assert r.status_code == 413


def test_oversized_batches_are_refused_whole(api: Api) -> None:
    r = api.client.post("/v1/events", json=[EVENT] * (MAX_BATCH + 1), headers=api.keys["write"])
    assert r.status_code == 413 and error_shape(r.json())["code"] == "payload_too_large"
    assert api.ws.store.last_seq == 0


def test_identify_then_360_views(api: Api) -> None:
    w, rd = api.keys["write"], api.keys["read"]
    api.client.post("/v1/events", json=[{**EVENT, "properties": {"path": "/pricing"}}], headers=w)
    r = api.client.post("/v1/identify", headers=w, json={
        "anonymous_id": "d1", "email": "Anna@Acme.fi", "account_id": "A1",
        "traits": {"name": "Anna", "role": "decision_maker", "org_level": "executive"},
        "account": {"name": "Acme Oy", "domain": "acme.fi", "industry": "manufacturing"},
    })
    assert r.status_code == 200 and r.json()["accepted"] == 1
    contact = api.client.get("/v1/contacts/anna@acme.fi", headers=rd).json()
    assert contact["contact"]["stage"] == "prospect" and contact["contact"]["account_id"] == "A1"
    assert [e["type"] for e in contact["timeline"]] == ["identify", "page_view"]
    assert set(contact["timeline"][0]) == {"event_id", "ts", "type", "channel", "topic", "value", "properties", "contact_id"}
    assert contact["channel_mix"][0]["channel"] == "web"
    account = api.client.get("/v1/accounts/A1", headers=rd).json()
    assert account["account"]["name"] == "Acme Oy"
    assert account["buying_group"][0]["role"] == "decision_maker"
    assert account["coverage"]["org_levels"] == {"executive": 1}
    stats = api.client.get("/v1/stats", headers=rd).json()
    assert stats["contacts_by_stage"]["prospect"] == 1 and stats["events"] == 2
    r = api.client.get("/v1/contacts/nobody@acme.fi", headers=rd)
    assert r.status_code == 404 and "nobody@acme.fi" in error_shape(r.json())["message"]
    r = api.client.post("/v1/identify", headers=w, json={"anonymous_id": "d1"})
    assert r.status_code == 422


def test_unmerge_over_the_api(api: Api) -> None:
    w = api.keys["write"]
    api.client.post("/v1/identify", headers=w, json={"anonymous_id": "laptop", "email": "a@acme.fi", "ts": "2025-01-01T00:00:00Z"})
    api.client.post("/v1/events", headers=w, json=[{**EVENT, "email": "b@acme.fi", "ts": "2025-01-02T00:00:00Z"}])
    api.client.post("/v1/identify", headers=w, json={"anonymous_id": "laptop", "email": "b@acme.fi", "ts": "2025-01-03T00:00:00Z"})
    [merge] = api.client.get("/v1/merges", headers=api.keys["read"]).json()
    r = api.client.post(f"/v1/merges/{merge['merge_id']}/undo", json={"reason": "shared laptop"}, headers=api.keys["admin"])
    assert r.status_code == 200 and len(set(r.json()["contacts"])) == 2
    assert api.client.get("/v1/merges", headers=api.keys["read"]).json() == []


def test_sales_decides_on_a_lead_over_http(api: Api) -> None:
    api.ws.track("demo_requested", "web", email="anna@acme.fi", ts="2025-01-05T09:00:00Z")
    body = {"decision": "reject", "reason": "no budget this year", "by": "sami"}
    assert api.client.post("/v1/contacts/anna@acme.fi/lead", json=body, headers=api.keys["read"]).status_code == 403
    r = api.client.post("/v1/contacts/anna@acme.fi/lead", json=body, headers=api.keys["write"])
    assert r.status_code == 200 and r.json()["decision"] == "reject"
    view = api.client.get("/v1/contacts/anna@acme.fi", headers=api.keys["read"]).json()
    assert view["contact"]["stage"] == "prospect"
    assert view["stage_history"][-1]["reason"] == "recycled: lead_rejected via crm (no budget this year)"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"decision": "maybe", "reason": "x"}, "decision"), ({"decision": "accept", "reason": "  "}, "reason"),
     ({"decision": "accept"}, "reason"), ({"decision": "accept", "reason": "x", "extra": 1}, "extra")],
)
def test_bad_lead_decisions_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    api.ws.track("demo_requested", "web", email="anna@acme.fi")
    r = api.client.post("/v1/contacts/anna@acme.fi/lead", json=body, headers=api.keys["write"])
    assert r.status_code == 422
    assert field in str(error_shape(r.json()))
    unknown = api.client.post("/v1/contacts/nobody@x.fi/lead", json={"decision": "accept", "reason": "x"},
                              headers=api.keys["write"])
    assert unknown.status_code == 404
