"""File import: CSV, JSON Lines and Parquet; all or nothing; bad lines named; idempotent."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polku import ImportRejected, InvalidInput, Workspace

ROWS = [
    {"event_id": "e1", "ts": "2025-01-01T10:00:00Z", "type": "page_view", "channel": "web", "anonymous_id": "d1",
     "properties": json.dumps({"path": "/pricing"})},
    {"event_id": "e2", "ts": "2025-01-02T10:00:00Z", "type": "identify", "channel": "web", "anonymous_id": "d1",
     "email": "anna@acme.fi", "properties": json.dumps({"name": "Anna", "role": "user"})},
    {"event_id": "e3", "ts": "2025-01-03T10:00:00Z", "type": "order_placed", "channel": "crm", "email": "anna@acme.fi",
     "value": "1200.5"},
]
BAD = {"event_id": "e4", "ts": "2025-01-04T10:00:00Z", "type": "page_view", "channel": "carrier-pigeon", "anonymous_id": "d2"}
COLUMNS = ["event_id", "ts", "type", "channel", "anonymous_id", "email", "value", "properties"]


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({k: (json.loads(v) if k == "properties" else float(v) if k == "value" else v)
                                            for k, v in r.items()}) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows]), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_import_stores_events_and_is_idempotent(ws: Workspace, tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"events{suffix}", ROWS)
    result = ws.import_events(path)
    assert (result.rows, result.inserted, result.duplicates) == (3, 3, 0)
    again = ws.import_events(path)
    assert (again.inserted, again.duplicates) == (0, 3)
    anna = ws.contact("anna@acme.fi")
    assert anna["event_count"] == 3 and anna["contact"]["stage"] == "customer"
    assert anna["contact"]["name"] == "Anna"
    assert [e["value"] for e in anna["timeline"] if e["type"] == "order_placed"] == [1200.5]


@pytest.mark.parametrize(("suffix", "line"), [(".csv", 4), (".jsonl", 3), (".parquet", 3)])
def test_bad_rows_stop_the_import_before_anything_is_written(ws: Workspace, tmp_path: Path, suffix: str, line: int) -> None:
    path = write(tmp_path / f"events{suffix}", [ROWS[0], ROWS[1], BAD, ROWS[2]])
    with pytest.raises(ImportRejected) as info:
        ws.import_events(path)
    assert f"line {line}: channel" in info.value.message
    assert info.value.details == [{"line": line, "reason": info.value.details[0]["reason"]}]
    assert ws.store.last_seq == 0
    assert ws.store.query("SELECT count(*) AS n FROM events")[0]["n"] == 0


def test_skip_bad_imports_the_good_rows_and_writes_the_rejects(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", [ROWS[0], BAD, ROWS[1]])
    result = ws.import_events(path, skip_bad=True, rejects_path=tmp_path / "rejects.csv")
    assert (result.inserted, result.rejected) == (2, 1)
    rejects = list(csv.DictReader((tmp_path / "rejects.csv").read_text().splitlines()))
    assert rejects == [{"line": "3", "reason": "channel: unknown channel carrier-pigeon"}]


def test_broken_json_lines_are_named(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "page_view", "channel": "web", "anonymous_id": "d"}\n{"type": \n[1, 2]\n')
    with pytest.raises(ImportRejected) as info:
        ws.import_events(path)
    assert "line 2: not valid JSON" in info.value.message
    assert "line 3: a line must hold one JSON object" in info.value.message


def test_files_with_wrong_columns_or_formats_are_refused(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("type,channel,anonymous_id,colour\npage_view,web,d,red\n")
    with pytest.raises(InvalidInput, match="unknown column.*'colour'"):
        ws.import_events(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("type,anonymous_id\npage_view,d\n")
    with pytest.raises(InvalidInput, match="missing required column.*channel"):
        ws.import_events(tmp_path / "b.csv")
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        ws.import_events(tmp_path / "c.xlsx")
    (tmp_path / "d.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match="not a readable Parquet"):
        ws.import_events(tmp_path / "d.parquet")
    with pytest.raises(InvalidInput, match="no such file"):
        ws.import_events(tmp_path / "missing.csv")


def test_crm_accounts_and_contacts(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text(
        "account_id,name,domain,industry,employees,country,owner,tier\n"
        "A1,Acme Oy,www.acme.fi,manufacturing,250,FI,sari@polku.example,gold\n"
        "A2,Beta AS,beta.no,energy,40,NO,,\n"
    )
    (tmp_path / "contacts.csv").write_text(
        "crm_id,email,first_name,last_name,title,role,org_level,account_id\n"
        "C1,anna@acme.fi,Anna,Virtanen,CEO,Decision Maker,executive,A1\n"
        "C2,,Ola,Nordmann,Operator,user,operational,A2\n"
    )
    assert ws.import_accounts(tmp_path / "accounts.csv").inserted == 2
    assert ws.import_contacts(tmp_path / "contacts.csv").inserted == 2
    assert ws.import_contacts(tmp_path / "contacts.csv").duplicates == 2
    view = ws.account("A1")
    assert view["account"]["domain"] == "acme.fi" and view["account"]["traits"] == {"tier": "gold"}
    [anna] = view["buying_group"]
    assert (anna["name"], anna["role"], anna["org_level"], anna["title"]) == ("Anna Virtanen", "decision_maker", "executive", "CEO")
    assert ws.contact("C2")["contact"]["account_id"] == "A2"


def test_bad_crm_rows_are_named_by_line(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "accounts.csv").write_text("account_id,name,employees\nA1,Acme,many\n,NoId,3\nA1,Again,4\n")
    with pytest.raises(ImportRejected) as info:
        ws.import_accounts(tmp_path / "accounts.csv")
    msg = info.value.message
    assert "line 2: employees" in msg and "line 3: account_id: missing" in msg and "line 4: account_id" in msg
    assert ws.store.query("SELECT count(*) AS n FROM crm_accounts")[0]["n"] == 0
    (tmp_path / "contacts.csv").write_text("crm_id,email,role\nC1,a@acme.fi,boss\nC2,not-mail,user\n")
    with pytest.raises(ImportRejected) as info:
        ws.import_contacts(tmp_path / "contacts.csv")
    assert "line 2: traits.role" in info.value.message and "line 3: email" in info.value.message
    assert ws.store.last_seq == 0


def test_an_unwritable_rejects_file_keeps_nothing(ws: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv", [ROWS[0], BAD, ROWS[1]])
    with pytest.raises(InvalidInput, match="cannot write the rejects file"):
        ws.import_events(path, skip_bad=True, rejects_path=tmp_path / "no-such-dir" / "rejects.csv")
    assert ws.store.query("SELECT count(*) AS n FROM events")[0]["n"] == 0
