"""The analytics commands: tables, --json and --csv agree with the Python API; bad options are named."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polku import Workspace
from polku.analytics import registry
from polku.cli import app
from polku.cli_analytics import step
from polku.sim import generate, write_world

runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("analytics")
    write_world(generate(25, seed=5, events_per_account=80), folder / "world")
    with Workspace(folder / "ws") as ws:
        ws.import_events(folder / "world" / "events.parquet")
        ws.import_accounts(folder / "world" / "accounts.csv")
    return folder / "ws"


def polku(home: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.output


def test_step_syntax() -> None:
    assert step("stage:lead") == {"stage": "lead"}
    assert step("opportunity") == {"stage": "opportunity"}
    assert step("content_download/topic=pricing/format=pdf") == {
        "event": "content_download", "topic": "pricing", "properties": {"format": {"equals": "pdf"}},
    }


def test_funnel_csv_and_json_match_the_python_api(home: Path) -> None:
    with Workspace(home) as ws:
        expected = registry.run("funnel", {"steps": [{"event": "page_view"}, {"stage": "lead"}]}, ws.tables())
    code, output = polku(home, "funnel", "page_view", "stage:lead", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [int(r["converted"]) for r in rows] == expected.steps["converted"].tolist()
    code, output = polku(home, "funnel", "page_view", "stage:lead", "--json")
    assert code == 0
    assert json.loads(output)["steps"] == registry.payload(expected)["steps"]


@pytest.mark.parametrize(
    "args",
    [
        ("funnel", "page_view", "stage:lead", "--window", "60d", "--breakdown", "channel"),
        ("velocity",),
        ("paths", "--start", "content_download", "--steps", "2"),
        ("variants", "--top", "5", "--by-channel"),
        ("pain-points", "--min-support", "5"),
        ("attribution", "--models", "last_touch,markov", "--account"),
    ],
)
def test_every_analytics_command_prints_tables(home: Path, args: tuple[str, ...]) -> None:
    code, output = polku(home, *args)
    assert code == 0, output
    assert "┃" in output  # a Rich table


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("funnel", "page_view", "--window", "0d"), "window"),
        (("funnel", "page_view", "stage:nope"), "stage"),
        (("funnel", "page_view/bad"), "key=value"),
        (("paths", "--start", "stage:lead"), "not a stage"),
        (("attribution", "--models", "magic"), "models"),
        (("funnel", "page_view", "--csv", "--table", "nope"), "--table"),
    ],
)
def test_bad_options_exit_1_and_name_the_problem(home: Path, args: tuple[str, ...], words: str) -> None:
    code, output = polku(home, *args)
    assert code == 1
    assert output.startswith("error:") and words in output


def test_a_query_file_gives_the_whole_query(home: Path, tmp_path: Path) -> None:
    query = tmp_path / "q.json"
    query.write_text(json.dumps({"steps": [{"event": "page_view"}, {"event": "form_submit"}], "window": "7d"}))
    code, output = polku(home, "funnel", "page_view", "--query", str(query), "--json")
    assert code == 0
    body = json.loads(output)
    assert body["query"]["window"] == "7d" and len(body["steps"]) == 1  # the command's steps override the file's
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    code, output = polku(home, "funnel", "page_view", "--query", str(bad))
    assert code == 1 and "JSON object" in output
