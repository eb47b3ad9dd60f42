"""The store: schema versions, deduplication keys, atomic appends, the single-writer lock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from polku import Workspace, WorkspaceLocked
from polku.store.duck import DuckStore
from polku.store.keyindex import KeyIndex
from polku.store.schema import SCHEMA_VERSION


def events(ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table({"event_id": ids, "type": ["page_view"] * n, "channel": ["web"] * n, "anonymous_id": ["d"] * n})


def test_new_store_is_at_the_latest_schema(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "x.duckdb")
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    store = DuckStore(tmp_path / "x.duckdb")  # reopening migrates nothing and keeps data
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


class EverythingHits(KeyIndex):
    """A key index that claims every key is stored, as a collision would."""

    def contains_sorted(self, keys: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
        return np.ones(len(keys), dtype=bool)


def test_a_hash_collision_never_drops_an_event(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "x.duckdb")
    store.append_events(events(["a", "b"]), "t")
    store._keys = EverythingHits()
    result = store.append_events(events(["c", "a"]), "t")
    assert (result.inserted, result.duplicate_rows) == (1, [1])
    assert {r["event_id"] for r in store.query("SELECT event_id FROM events")} == {"a", "b", "c"}
    store.close()


def test_keys_are_rebuilt_when_duckdb_changes(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "x.duckdb")
    store.append_events(events(["a"]), "t")
    store.execute("UPDATE events SET event_key = 0")
    store.set_meta("event_key", "hash/duckdb-0.0")
    store.close()
    store = DuckStore(tmp_path / "x.duckdb")
    assert store.append_events(events(["a"]), "t").duplicate_rows == [0]
    assert store.query("SELECT count(*) AS n FROM events WHERE event_key = 0")[0]["n"] == 0
    store.close()


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "x.duckdb")
    with pytest.raises(RuntimeError), store.transaction():
        store.append_events(events(["a", "b"]), "t")
        raise RuntimeError("crash in the middle")
    assert store.query("SELECT count(*) AS n FROM events")[0]["n"] == 0
    assert store.append_events(events(["a"]), "t").inserted == 1  # the key index forgot the rolled-back keys
    store.close()


def test_a_second_process_gets_a_clear_locked_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    home = tmp_path / "ws"
    with Workspace(home):
        code = f"from polku import Workspace; Workspace({str(home)!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "WorkspaceLocked" in proc.stderr and "in use by another process" in proc.stderr


def test_key_index_membership() -> None:
    index = KeyIndex()
    for start in range(0, 100, 10):
        index.add(np.arange(start, start + 10, dtype=np.uint64) * 7)
    assert len(index) == 100
    probe = np.array([0, 7, 8, 693, 700], dtype=np.uint64)
    assert index.contains(probe).tolist() == [True, True, False, True, False]
    assert WorkspaceLocked.status == 409


def test_a_version_1_workspace_is_migrated_and_rebuilt(tmp_path: Path) -> None:
    import duckdb

    from polku.store.schema import MIGRATIONS

    path = tmp_path / "ws" / "polku.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    for stmt in MIGRATIONS[0]:
        con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('refreshed', 'old')")
    con.close()
    with Workspace(path.parent) as ws:
        assert ws.store.schema_version() == SCHEMA_VERSION
        ws.track("page_view", "web", email="a@acme.fi")
        assert ws.contact("a@acme.fi")["channel_mix"][0]["events"] == 1
