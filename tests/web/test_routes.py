"""Every route of the app refuses a stranger; the /v1 routes the dashboard added answer with an API key."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from .conftest import Web

# Open on purpose: they hold no customer data (decision 0005 and 0009).
PUBLIC = {("GET", "/"), ("GET", "/health"), ("GET", "/login"), ("POST", "/login"), ("GET", "/openapi.json"),
          ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}


def test_every_route_refuses_a_stranger(web: Web) -> None:
    app = web.client.app
    every = [c.route for c in iter_route_contexts(app.routes)]  # type: ignore[attr-defined]
    routes = [(m, r) for r in every if isinstance(r, APIRoute) for m in r.methods if m != "HEAD"]
    paths = {(m, r.path) for m, r in routes}
    assert len(routes) > 20 and {("GET", "/overview"), ("GET", "/v1/search"), ("POST", "/users")} <= paths
    checked = 0
    for method, route in routes:
        path = route.path
        if (method, path) in PUBLIC:
            continue
        page = type(route).__name__ == "PageRoute"  # the dashboard's pages
        url = re.sub(r"\{[^}]+\}", "x", path)
        for cookies in ({}, {"polku_session": "forged"}):
            web.client.cookies.clear()
            for k, v in cookies.items():
                web.client.cookies.set(k, v)
            r = web.client.request(method, url, follow_redirects=False)
            if path.startswith("/v1"):
                assert r.status_code == 401, (method, path, r.status_code)
            elif page and method == "GET":
                assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (method, path)
            elif page:
                assert r.status_code == 401, (method, path, r.status_code)
            else:  # other areas' routes outside /v1 carry their own signed tokens (e.g. /t/… of e-mails)
                assert 400 <= r.status_code < 500, (method, path, r.status_code)
            checked += 1
    assert checked == 2 * len([1 for m, r in routes if (m, r.path) not in PUBLIC])
    assert any(isinstance(r, Mount) and r.path == "/static" for r in app.routes)  # type: ignore[attr-defined]
    assert web.client.get("/static/vendor/echarts/echarts.min.js").status_code == 200  # public: code, no data
    assert web.client.get("/static/vendor/echarts/LICENSE").status_code == 200


def test_the_root_leads_to_the_dashboard(web: Web) -> None:
    r = web.client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/overview"
    assert "/docs" in web.client.get("/").text  # the sign-in page links the API documentation


def test_new_v1_routes_with_an_api_key(web: Web) -> None:
    key = {"Authorization": f"Bearer {web.ws.create_key('read')}"}
    c = web.client
    account = web.ws.store.query("SELECT account_id, domain FROM accounts ORDER BY contact_count DESC LIMIT 1")[0]
    found = c.get("/v1/search", params={"q": account["domain"]}, headers=key).json()
    assert found["accounts"][0]["account_id"] == account["account_id"]
    assert c.get("/v1/search?q=a", headers=key).status_code == 422
    stages = c.get("/v1/stages", headers=key).json()
    assert [r["stage"] for r in stages["contacts"]][0] == "visitor"
    weekly = c.get("/v1/stages/weekly?stages=lead&weeks=8", headers=key).json()
    assert len(weekly) == 8 and {r["stage"] for r in weekly} == {"lead"}
    assert c.get("/v1/stages/weekly?stages=boss", headers=key).status_code == 422
    tl = c.get(f"/v1/accounts/{account['domain']}/timeline?limit=5&channel=web", headers=key).json()
    assert len(tl["events"]) == 5 and {e["channel"] for e in tl["events"]} == {"web"}
    assert tl["matching"] >= 5 and sum(w["events"] for w in tl["weekly"]) <= tl["matching"]
    view = c.get(f"/v1/accounts/{account['account_id']}", headers=key).json()
    person = view["buying_group"][0]["contact_id"]
    tl = c.get(f"/v1/contacts/{person}/timeline", params={"type": "identify"}, headers=key).json()
    assert all(e["type"] == "identify" for e in tl["events"]) and tl["weekly"] == []
    assert c.get(f"/v1/contacts/{person}/timeline?since=2025-02-01&until=2025-01-01", headers=key).status_code == 422
