"""Feedback text over a real workspace: survey comments (both answer shapes) and tickets, the topic
report with NPS effects, `polku cx feedback|sentiment` and GET /v1/cx/feedback, POST /v1/cx/sentiment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from polku import Workspace
from polku.api import create_app
from polku.cli import app
from polku.cx.text import labelled, ops
from polku.cx.text.sources import feedback_frame
from polku.cx.text.synth import feedback_texts
from polku.model import utcnow

NOW = utcnow()


def _fill(home: Path) -> dict[str, int]:
    """Acme (acme.fi) with 20 unhappy delivery comments (NPS 2) and 30 others (NPS 8-10), both answer shapes;
    Beta (beta.fi) with two comments; Acme's tickets from the shipped examples; answers spread over 60 days."""
    texts = feedback_texts(900, seed=11)
    late = texts[(texts["topic"] == "delivery") & (texts["sentiment"] == "negative")
                 & texts["text"].str.len().gt(30)].drop_duplicates("text").head(20)
    rest = texts[(texts["topic"].isin(["service", "support", "portal", "quality"])) & (texts["sentiment"] != "negative")
                 & texts["text"].str.len().gt(30)].drop_duplicates("text").head(30)
    with Workspace(home) as ws:
        ws.identify(email="anna@acme.fi", account_id="acme", traits={"name": "Anna"},
                    account={"name": "Acme", "domain": "acme.fi"})
        ws.identify(email="bo@beta.fi", account_id="beta", traits={"name": "Bo"}, account={"name": "Beta", "domain": "beta.fi"})
        for i, row in enumerate(list(late.itertuples()) + list(rest.itertuples())):
            score = 2 if i < len(late) else 8 + i % 3
            props = ({"survey": "nps", "score": score, "comment": row.text, "language": row.language} if i % 2 else
                     {"survey": "quarterly", "response": f"r{i}", "scores": {"nps": score, "csat": 2 if score < 5 else 5},
                      "answers": {"why": row.text}, "comment": row.text, "language": row.language})
            ws.track("survey_answered", "email", email="anna@acme.fi", ts=(NOW - timedelta(days=1 + i)).isoformat(),
                     properties=props)
        ws.track("survey_answered", "email", email="anna@acme.fi", properties={"survey": "nps", "score": 9})  # no comment
        for i, text in enumerate(["Great partner, thank you!", "Laskut ovat aina myöhässä."]):
            ws.track("survey_answered", "web", email="bo@beta.fi", ts=(NOW - timedelta(days=3)).isoformat(),
                     properties={"survey": "nps", "score": 9 - 7 * i, "comment": text})
        for t in labelled.tickets():
            ws.track("ticket_opened", "service", email="anna@acme.fi", ts=(NOW - timedelta(days=2)).isoformat(),
                     properties={"ticket": t.id, "subject": t.subject, "description": t.description})
        ws.track("ticket_opened", "service", email="anna@acme.fi", properties={"ticket": "no-text"})
    return {"late": len(late), "rest": len(rest), "tickets": len(labelled.tickets())}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    home = tmp_path_factory.mktemp("text") / "ws"
    return home, _fill(home)


@pytest.fixture(scope="module")
def result(world: tuple[Path, dict[str, int]]) -> dict[str, object]:
    home, _ = world
    with Workspace(home) as ws:
        return ops.feedback(ws)


def polku(home: Path, *args: str) -> tuple[int, str]:
    out = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--home", str(home), "cx", *args])
    return out.exit_code, out.output


def test_texts_come_from_comments_and_tickets(world: tuple[Path, dict[str, int]]) -> None:
    home, n = world
    with Workspace(home) as ws:
        frame = feedback_frame(ws.tables())
        only_beta = feedback_frame(ws.tables(), account="beta.fi")
        recent = feedback_frame(ws.tables(), start=NOW - timedelta(days=9.5), tickets=False)
    surveys = frame[frame["source"] == "survey"]
    assert surveys["id"].nunique() == n["late"] + n["rest"] + 2  # the answer without a comment has no text
    assert frame[frame["source"] == "ticket"]["id"].nunique() == n["tickets"]  # the ticket without text is skipped
    assert set(surveys["measure"].dropna()) == {"nps", "csat"}
    assert frame[frame["source"] == "ticket"]["score"].isna().all()
    ticket = frame[frame["source"] == "ticket"].iloc[0]
    assert ticket["text"] == labelled.tickets()[0].text
    assert set(only_beta["account_id"]) == {"beta"} and only_beta["id"].nunique() == 2
    assert recent["id"].nunique() == 9 + 2 and (recent["ts"] >= NOW - timedelta(days=9.5)).all()


def test_the_report_finds_what_drags_nps_down(world: tuple[Path, dict[str, int]], result: dict[str, object]) -> None:
    _, n = world
    r = result
    assert r["texts"] == n["late"] + n["rest"] + 2 + n["tickets"] and r["embedded"] == r["distinct"]
    topics = {t["topic"]: t for t in r["topics"]}  # type: ignore[attr-defined]
    delivery = topics["delivery"]
    assert delivery["volume"] >= n["late"] - 2 and delivery["sentiment"]["mean"] < -0.3
    assert len(delivery["examples"]) == 3 and delivery["keywords"]
    nps = delivery["scores"]["nps"]
    assert nps["value"] < -50 and nps["effect"] < -50 and nps["drags_down"]
    assert any(d["topic"] == "delivery" and d["measure"] == "nps" for d in r["drags"])  # type: ignore[attr-defined]
    assert "csat" in delivery["scores"] and r["scores"]["nps"]["n"] == n["late"] + n["rest"] + 2  # type: ignore[index]
    assert sum(t["volume"] for t in r["topics"]) == r["texts"]  # type: ignore[attr-defined]


def test_embeddings_are_cached_in_the_workspace(world: tuple[Path, dict[str, int]], result: dict[str, object]) -> None:
    home, _ = world
    path = home / ops.CACHE_FILE
    assert path.exists()
    cache = ops.embedding_cache(path)
    before = cache.embedded
    with Workspace(home) as ws:
        again = ops.feedback(ws)
    assert cache.embedded == before  # nothing new to embed
    assert again["topics"] == result["topics"]


def test_cli_feedback(world: tuple[Path, dict[str, int]], result: dict[str, object]) -> None:
    home, n = world
    code, out = polku(home, "feedback")
    assert code == 0, out
    assert "Feedback topics" in out and "delivery" in out and "Drag NPS down" in out
    code, out = polku(home, "feedback", "--json", "--account", "beta.fi")
    assert code == 0 and json.loads(out)["texts"] == 2
    code, out = polku(home, "feedback", "--json", "--from", (NOW - timedelta(days=9.5)).strftime("%Y-%m-%dT%H:%M:%S"),
                      "--no-tickets")
    assert code == 0 and json.loads(out)["texts"] == 11
    code, out = polku(home, "feedback", "--to", "2001-01-01")
    assert code == 0 and "no feedback texts" in out
    code, out = polku(home, "feedback", "--account", "nobody.example")
    assert code == 1 and "no account 'nobody.example'" in out
    code, out = polku(home, "feedback", "--model", "bert")
    assert code == 1 and "unknown sentiment model 'bert'" in out


def test_cli_sentiment() -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    out = runner.invoke(app, ["cx", "sentiment", "The invoice was wrong again", "Kiitos nopeasta toimituksesta!", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["results"]
    assert [(r["language"], r["label"]) for r in rows] == [("en", "negative"), ("fi", "positive")]
    assert rows[0]["score"] < -0.3 < 0.3 < rows[1]["score"] and rows[0]["theme"] == "invoicing"
    out = runner.invoke(app, ["cx", "sentiment", "Nice!", "--model", "fast"])
    assert out.exit_code == 0 and "Nice!" in out.output
    out = runner.invoke(app, ["cx", "sentiment", " "])
    assert out.exit_code == 1 and "empty or not text" in out.output


@pytest.fixture(scope="module")
def client(world: tuple[Path, dict[str, int]]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    home, _ = world
    with Workspace(home) as ws:
        read = {"Authorization": f"Bearer {ws.create_key('read')}"}
        with TestClient(create_app(ws, refresh_seconds=0.2)) as c:
            yield c, read


def test_api_feedback(client: tuple[TestClient, dict[str, str]], result: dict[str, object]) -> None:
    c, read = client
    assert c.get("/v1/cx/feedback").status_code == 401
    r = c.get("/v1/cx/feedback", headers=read)
    assert r.status_code == 200, r.text
    assert r.json()["topics"] == json.loads(json.dumps(result["topics"]))
    r = c.get("/v1/cx/feedback", params={"account": "beta", "model": "fast"}, headers=read)
    assert r.status_code == 200 and r.json()["texts"] == 2 and r.json()["model"] == "fast"
    assert c.get("/v1/cx/feedback", params={"account": "nope"}, headers=read).status_code == 404
    bad = c.get("/v1/cx/feedback", params={"model": "bert"}, headers=read)
    assert bad.status_code == 422 and "unknown sentiment model" in bad.json()["error"]["message"]
    assert c.get("/v1/cx/feedback", params={"sample": 0}, headers=read).status_code == 422


def test_api_sentiment(client: tuple[TestClient, dict[str, str]]) -> None:
    c, read = client
    assert c.post("/v1/cx/sentiment", json={"texts": ["ok"]}).status_code == 401
    r = c.post("/v1/cx/sentiment", json={"texts": ["Support was brilliant, thanks!", "Hinta on liian korkea"]}, headers=read)
    assert r.status_code == 200, r.text
    assert [x["label"] for x in r.json()["results"]] == ["positive", "negative"]
    r = c.post("/v1/cx/sentiment", json={"texts": ["Hyvä"], "model": "vader", "languages": ["fi"]}, headers=read)
    assert r.status_code == 200 and r.json()["results"][0]["label"] is None

    def error(body: object) -> dict[str, object]:
        resp = c.post("/v1/cx/sentiment", json=body, headers=read)
        assert resp.status_code == 422, resp.text
        return resp.json()["error"]  # type: ignore[no-any-return]

    assert "at most 100 texts" in error({"texts": ["ok"] * 101})["message"]  # type: ignore[operator]
    too_long = error({"texts": ["ok", "x" * (ops.MAX_CHARS + 1)]})
    assert too_long["details"][0]["item"] == 1 and "limit is 5,000" in too_long["details"][0]["reason"]  # type: ignore[index]
    assert "empty or not text" in error({"texts": ["fine", "   "]})["message"]  # type: ignore[operator]
    assert "give at least one text" in error({"texts": []})["message"]  # type: ignore[operator]
    assert "unknown sentiment model" in error({"texts": ["ok"], "model": "bert"})["message"]  # type: ignore[operator]
    assert "one language" in str(error({"texts": ["ok", "fine"], "languages": ["en"]})["details"])
    error({"texts": "just one string"})
    error({"texts": [1, 2]})
    error({"text": ["typo in the field name"]})
