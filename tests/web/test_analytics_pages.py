"""The analytics pages: each renders for a viewer, refuses a bad field with 422 naming it, exports CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape

import pytest

from polku.analytics import registry as insights
from polku.web import registry

from .conftest import Web

PAGES = ("/analytics/funnel", "/analytics/paths", "/analytics/attribution", "/analytics/velocity")


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def chart_option(page: str, chart_id: str) -> dict:
    found = re.search(rf'<script type="application/json" data-chart-for="{chart_id}">(.*?)</script>', page, re.S)
    assert found, f"no chart {chart_id}"
    return json.loads(found.group(1))


def test_pages_are_in_the_navigation_for_a_viewer(web: Web) -> None:
    web.sign_in("vic")
    page = web.client.get("/overview").text
    for path in PAGES:
        assert f'href="{path}"' in page
    assert {p.slug for p in registry.pages} >= {"funnel", "paths", "attribution", "velocity"}


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_is_sent_to_sign_in(web: Web, path: str) -> None:
    r = web.client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_funnel_matches_the_insight_and_exports(web: Web) -> None:
    web.sign_in("vic")
    params = [("step", "page_view"), ("step", "stage:lead"), ("window", "60d"), ("subject", "contact")]
    r = web.client.get("/analytics/funnel", params=params)
    assert r.status_code == 200, r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    expected = insights.run("funnel", {"steps": [{"event": "page_view"}, {"stage": "lead"}], "window": "60d"},
                            web.ws.tables()).steps
    option = chart_option(r.text, "chart-funnel")
    assert option["series"][0]["data"] == expected["converted"].tolist()
    assert 'id="table-steps"' in r.text and 'aria-labelledby="chart-funnel-cap"' in r.text
    exported = csv_rows(web.client.get("/analytics/funnel", params=[*params, ("export", "steps")]).text)
    assert [int(row["converted"]) for row in exported] == expected["converted"].tolist()
    assert float(exported[1]["rate_pct"]) == pytest.approx(100 * expected["rate"].iloc[1], abs=0.01)


def test_funnel_breakdown_and_defaults(web: Web) -> None:
    web.sign_in("vic")
    r = web.client.get("/analytics/funnel")  # default steps: the most frequent type, lead, opportunity
    assert r.status_code == 200 and 'id="table-steps"' in r.text
    r = web.client.get("/analytics/funnel", params=[("step", "page_view"), ("step", "stage:lead"),
                                                    ("breakdown", "channel")])
    assert r.status_code == 200 and 'id="table-groups"' in r.text
    groups = csv_rows(web.client.get("/analytics/funnel", params=[("step", "page_view"), ("step", "stage:lead"),
                                                                  ("breakdown", "channel"), ("export", "groups")]).text)
    assert groups and set(groups[0]) >= {"group", "step", "entered", "converted"}


@pytest.mark.parametrize(("params", "field"), [
    ([("step", "page_view"), ("window", "0d")], "window"),
    ([("step", "page_view"), ("window", "soon")], "window"),
    ([("step", "no such type!")], "step"),
    ([("step", "")], "step"),
    ([("step", "stage:lead"), ("breakdown", "channel")], "breakdown"),
    ([("step", "page_view"), ("subject", "planet")], "subject"),
])
def test_funnel_bad_field_is_named(web: Web, params: list[tuple[str, str]], field: str) -> None:
    web.sign_in("vic")
    r = web.client.get("/analytics/funnel", params=params)
    assert r.status_code == 422, r.text
    assert f'id="e-{field}"' in r.text and 'role="alert"' in r.text
    assert 'data-chart-for' not in r.text


def test_paths_sankey_tables_and_variants(web: Web) -> None:
    web.sign_in("vic")
    params = {"start": "page_view", "direction": "next", "steps": "3", "node_by": "channel_type"}
    r = web.client.get("/analytics/paths", params=params)
    assert r.status_code == 200, r.text
    series = chart_option(r.text, "chart-paths")["series"][0]
    names = [n["name"] for n in series["data"]]
    assert len(names) == len(set(names)) and all(re.match(r"-?\d+:", n) for n in names)
    assert {lk["source"] for lk in series["links"]} <= set(names)
    nodes = csv_rows(web.client.get("/analytics/paths", params={**params, "export": "nodes"}).text)
    assert len(nodes) == len(names)
    variants = csv_rows(web.client.get("/analytics/paths", params={**params, "export": "variants"}).text)
    assert variants and set(variants[0]) >= {"variant", "share_pct", "conversion_pct"}
    assert web.client.get("/analytics/paths", params={"direction": "previous"}).status_code == 200


@pytest.mark.parametrize(("params", "field"), [({"steps": "11"}, "steps"), ({"steps": "many"}, "steps"),
                                               ({"direction": "sideways"}, "direction"),
                                               ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to")])
def test_paths_bad_field_is_named(web: Web, params: dict[str, str], field: str) -> None:
    web.sign_in("vic")
    r = web.client.get("/analytics/paths", params=params)
    assert r.status_code == 422, r.text
    assert "is not valid" in r.text and (f'id="e-{field}"' in r.text or field in unescape(r.text))


def test_attribution_models_side_by_side(web: Web) -> None:
    web.sign_in("vic")
    r = web.client.get("/analytics/attribution", params={"conversion": "stage:lead", "lookback_days": "90"})
    assert r.status_code == 200, r.text
    option = chart_option(r.text, "chart-attribution")
    assert len(option["series"]) == 7 and all(s["type"] == "bar" for s in option["series"])
    shares = csv_rows(web.client.get("/analytics/attribution", params={"conversion": "stage:lead",
                                                                       "lookback_days": "90", "export": "shares"}).text)
    expected = insights.run("attribution", {"conversion": {"stage": "lead"}, "lookback_days": 90}, web.ws.tables())
    assert [row["channel"] for row in shares] == [str(i) for i in expected.credits.index]
    if expected.attributed:
        assert sum(float(row["markov"]) for row in shares) == pytest.approx(100, abs=0.1)
    two = web.client.get("/analytics/attribution", params=[("model", "last_touch"), ("model", "linear"),
                                                            ("export", "credits")])
    assert list(csv_rows(two.text)[0]) == ["channel", "last_touch", "linear"]


@pytest.mark.parametrize(("params", "field"), [({"lookback_days": "0"}, "lookback_days"),
                                               ({"conversion": "stage:nowhere"}, "conversion"),
                                               ({"level": "galaxy"}, "level"), ({"model": "astrology"}, "model")])
def test_attribution_bad_field_is_named(web: Web, params: dict[str, str], field: str) -> None:
    web.sign_in("vic")
    r = web.client.get("/analytics/attribution", params=params)
    assert r.status_code == 422, r.text
    assert f'id="e-{field}"' in r.text


def test_velocity_tables_and_bad_within(web: Web) -> None:
    web.sign_in("vic")
    r = web.client.get("/analytics/velocity")
    assert r.status_code == 200 and 'data-chart-for="chart-velocity"' in r.text
    stages = csv_rows(web.client.get("/analytics/velocity?export=stages").text)
    assert [s["stage"] for s in stages][:2] == ["visitor", "suspect"]
    stalled = csv_rows(web.client.get("/analytics/velocity?export=stalled").text)
    if stalled:
        assert f'href="/contacts/{stalled[0]["entity"]}"' in r.text
    bad = web.client.get("/analytics/velocity?within=forever")
    assert bad.status_code == 422 and 'id="e-within"' in bad.text


def test_unknown_export_is_404(web: Web) -> None:
    web.sign_in("vic")
    assert web.client.get("/analytics/velocity?export=nope").status_code == 404
