"""The embedded store: one DuckDB file that owns the schema and every write of state.

DuckDB allows one writer per file, so one ``DuckStore`` per process owns the file;
the server funnels its writes through ``polku.store.writer.Writer``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from polku.collect.columns import normal_sql, reason_sql
from polku.collect.sources import ParquetRange
from polku.errors import WorkspaceLocked
from polku.model import IDENTITY_COLUMNS, IDENTITY_KIND
from polku.store.keyindex import KeyIndex, Keys
from polku.store.schema import DERIVED_DDL, MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from ibis import BaseBackend

# The event's strongest identity, as resolved identities are keyed: "crm:…", "email:…" or "anon:…".
IDENTITY_SQL = "coalesce(" + ", ".join(f"'{IDENTITY_KIND[c]}:' || {c}" for c in IDENTITY_COLUMNS) + ")"


@dataclass(frozen=True)
class AppendResult:
    """What an append did: how many events were new and which ids were already stored."""

    inserted: int
    duplicate_rows: list[int]  # positions in the batch of events already stored
    rejects: list[tuple[int, str]]  # (row number, reason) of invalid rows, not stored


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, turning DuckDB's lock error into a clear WorkspaceLocked."""
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WorkspaceLocked(
                f"the workspace database {path} is in use by another process "
                "(is `polku serve` running on it? stop it, or send data through its API)"
            ) from exc
        raise
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


class DuckStore:
    """Persistence for one workspace. Thread-safe: calls are serialised by a lock."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._con = connect(path, read_only=read_only)
        self._lock = threading.RLock()
        self._keys: KeyIndex | None = None
        self._in_txn = False
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        if not read_only:
            self._migrate()
            self._check_key_function()
        self._seq = int(self._scalar("SELECT coalesce(max(seq), 0) FROM events") or 0)

    # ---- plumbing -------------------------------------------------------------
    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
            self._con.close()

    def _scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        with self._lock:
            rows = self._con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own read cursor, so readers never block each other or the writer."""
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            cur.execute("SET TimeZone = 'UTC'")  # settings are per connection; cursors start from the system's
            self._local.cursor = cur
            with self._lock:
                self._cursors.append(cur)
        return cur

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run a read query on committed data; rows as dicts."""
        rel = self._cursor().execute(sql, params or [])
        cols = [d[0] for d in rel.description]
        return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]

    def ibis(self) -> BaseBackend:
        """This thread's Ibis backend over its own read cursor, for engine-neutral analytics."""
        import ibis  # imported on first use: it costs the CLI's start-up time otherwise

        backend: BaseBackend | None = getattr(self._local, "ibis", None)
        if backend is None:
            backend = ibis.duckdb.from_connection(self._cursor())
            self._local.ibis = backend
        return backend

    def query_arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run a read query on committed data; the result as an Arrow table."""
        return self._cursor().sql(sql, params=params or None).to_arrow_table()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        with self._lock:
            if self._in_txn:
                yield
                return
            self._con.execute("BEGIN TRANSACTION")
            self._in_txn = True
            try:
                yield
            except BaseException:
                self._in_txn = False
                self._con.execute("ROLLBACK")
                self._keys = None  # keys added in the failed transaction are gone
                self._seq = int(self._scalar("SELECT coalesce(max(seq), 0) FROM events") or 0)
                raise
            self._in_txn = False
            self._con.execute("COMMIT")

    def _migrate(self) -> None:
        with self._lock:
            exists = self._scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
            )
            version = 0
            if exists:
                version = int(self._scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)
            if version > SCHEMA_VERSION:
                raise WorkspaceLocked(
                    f"{self.path} has schema version {version}, newer than this Polku "
                    f"({SCHEMA_VERSION}); upgrade Polku"
                )
            for v in range(version, SCHEMA_VERSION):
                with self.transaction():
                    for stmt in MIGRATIONS[v]:
                        self._con.execute(stmt)
                    self._con.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(v + 1)]
                    )

    def _check_key_function(self) -> None:
        """Event keys come from DuckDB's hash(); if a new DuckDB hashes differently, rekey the log."""
        current = f"hash/duckdb-{duckdb.__version__}"
        if self.meta("event_key") == current:
            return
        with self.transaction():
            self._con.execute("UPDATE events SET event_key = hash(event_id)")
            self._con.execute("INSERT OR REPLACE INTO meta VALUES ('event_key', ?)", [current])

    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._scalar("SELECT value FROM meta WHERE key = 'schema_version'") or 0)

    def meta(self, key: str) -> str | None:
        """A committed value from the meta table (safe from any thread)."""
        rows = self.query("SELECT value FROM meta WHERE key = ?", [key])
        return rows[0]["value"] if rows else None

    def all_meta(self) -> dict[str, str]:
        """Every committed value of the meta table, in one read."""
        return {r["key"]: r["value"] for r in self.query("SELECT key, value FROM meta")}

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the meta table."""
        with self._lock:
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # ---- the event log ---------------------------------------------------------
    def _key_index(self) -> KeyIndex:
        if self._keys is None:
            keys = self._con.sql("SELECT event_key FROM events").to_arrow_table().column(0)
            self._keys = KeyIndex(keys.to_numpy(zero_copy_only=False).astype(np.uint64, copy=False))
        return self._keys

    def append_events(
        self, batch: pa.Table | ParquetRange, source: str, *, first_row: int = 1, write: bool = True,
        validated: bool = False,
    ) -> AppendResult:
        """Validate, deduplicate and append event columns (raw strings or typed).

        ``batch`` is an Arrow table or a range of rows of a Parquet file (read by DuckDB
        itself, so no copy is held in Python). Rows with a problem are returned as rejects
        (numbered from ``first_row``) and not stored; an id already stored is skipped.
        ``write=False`` only validates; ``validated=True`` skips the checks for batches the
        pydantic models already validated. Call inside ``transaction()`` to make several
        appends one atomic commit; alone, the append is its own transaction.
        """
        if (batch.num_rows if isinstance(batch, pa.Table) else batch.stop - batch.start) == 0:
            return AppendResult(0, [], [])
        with self._lock:
            if not self._in_txn and write:
                with self.transaction():
                    return self._append(batch, source, first_row, write, validated)
            return self._append(batch, source, first_row, write, validated)

    @contextmanager
    def _relation(self, batch: pa.Table | ParquetRange) -> Iterator[tuple[str, set[str]]]:
        """The batch as a SQL relation with a ``_row`` column (0, 1, ...), and its column names."""
        if isinstance(batch, ParquetRange):
            path = str(batch.path).replace("'", "''")
            yield (
                f"(SELECT file_row_number - {batch.start} AS _row, * EXCLUDE (file_row_number) "
                f"FROM read_parquet('{path}', file_row_number = true) "
                f"WHERE file_row_number >= {batch.start} AND file_row_number < {batch.stop})",
                set(batch.columns),
            )
            return
        self._con.register("_raw", batch.append_column("_row", pa.array(np.arange(batch.num_rows))))
        try:
            yield "_raw", set(batch.column_names)
        finally:
            self._con.unregister("_raw")

    def _append(
        self, batch: pa.Table | ParquetRange, source: str, first_row: int, write: bool, validated: bool
    ) -> AppendResult:
        """One pass: insert the valid rows, then drop the few that repeat a stored event id."""
        con = self._con
        with self._relation(batch) as (rel, names):
            reason_expr = "NULL::VARCHAR" if validated else reason_sql(names)
            checked = f"(SELECT _row, {reason_expr} AS reason, {normal_sql(names)} FROM {rel})"
            total = batch.num_rows if isinstance(batch, pa.Table) else batch.stop - batch.start
            if not write:
                return AppendResult(0, [], self._rejects(checked, first_row))
            base = self._seq
            self._key_index()  # load the stored keys before this batch's rows join them
            con.execute(
                f"""INSERT INTO events
                SELECT {base + 1} + _row, hash(event_id), event_id, ts, type, channel, anonymous_id, email,
                       crm_id, account_id, topic, value, properties, identity, now(), ?, hash(identity)
                FROM (SELECT *, {IDENTITY_SQL} AS identity FROM {checked} WHERE reason IS NULL)""",
                [source],
            )
            self._seq = base + total
            new = con.sql(f"SELECT seq, event_key FROM events WHERE seq > {base} ORDER BY seq").to_arrow_table()
            rejects = self._rejects(checked, first_row) if new.num_rows < total else []
        seqs = new.column("seq").to_numpy()
        keys = new.column("event_key").to_numpy().astype(np.uint64, copy=False)
        dup = self._duplicates(seqs, keys, base)
        if dup.any():
            self._con.register("_dups", pa.table({"seq": pa.array(seqs[dup])}))
            try:
                con.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM _dups)")
            finally:
                self._con.unregister("_dups")
        self._key_index().add(keys[~dup])
        return AppendResult(
            inserted=int((~dup).sum()), duplicate_rows=(seqs[dup] - base - 1).tolist(), rejects=rejects
        )

    def _rejects(self, checked: str, first_row: int) -> list[tuple[int, str]]:
        """Rows with a problem, numbered from first_row, with the reason."""
        rows = self._con.execute(
            f"SELECT _row, reason FROM {checked} WHERE reason IS NOT NULL ORDER BY _row"
        ).fetchall()
        return [(first_row + int(r), str(reason)) for r, reason in rows]

    def _duplicates(self, seqs: npt.NDArray[np.int64], keys: Keys, base: int) -> npt.NDArray[np.bool_]:
        """Which just-inserted rows repeat an earlier row of the batch or an event stored before it."""
        dup = np.zeros(len(keys), dtype=bool)
        order = np.argsort(keys, kind="stable")  # one sort serves every step below
        ordered = keys[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        suspects = np.union1d(order[same], order[same + 1])
        hits = order[self._key_index().contains_sorted(ordered)]
        if not len(suspects) and not len(hits):
            return dup
        ids = self._ids_by_seq(seqs[np.union1d(suspects, hits)])
        seen: set[str] = set()
        for i in suspects:  # the same key twice in the batch: the first of equal ids stays
            event_id = ids[int(seqs[i])]
            dup[i] = event_id in seen
            seen.add(event_id)
        hits = hits[~dup[hits]]
        if len(hits):  # a key hit only says "maybe": confirm with the ids stored before
            self._con.register("_hit_keys", pa.table({"k": pa.array(np.unique(keys[hits]), type=pa.uint64())}))
            try:
                stored = {
                    r[0]
                    for r in self._con.execute(
                        f"SELECT event_id FROM events WHERE event_key IN (SELECT k FROM _hit_keys) AND seq <= {base}"
                    ).fetchall()
                }
            finally:
                self._con.unregister("_hit_keys")
            for i in hits:
                dup[i] = ids[int(seqs[i])] in stored
        return dup

    def _ids_by_seq(self, seqs: npt.NDArray[np.int64]) -> dict[int, str]:
        """Event ids of some stored rows, by sequence number."""
        self._con.register("_want", pa.table({"seq": pa.array(seqs, type=pa.int64())}))
        try:
            return dict(self._con.execute("SELECT seq, event_id FROM events WHERE seq IN (SELECT seq FROM _want)").fetchall())
        finally:
            self._con.unregister("_want")

    # ---- operational state ----------------------------------------------------
    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """Run one write statement (for the store package's own modules)."""
        with self._lock:
            self._con.execute(sql, params or [])

    def upsert_crm_accounts(self, rows: pa.Table) -> int:
        """Insert or replace CRM account records by account_id; returns how many."""
        with self._lock:
            self._con.register("_accounts", rows)
            try:
                self._con.execute(
                    """INSERT OR REPLACE INTO crm_accounts
                       SELECT account_id, name, domain, industry, employees, country, owner,
                              traits::JSON, now() FROM _accounts"""
                )
            finally:
                self._con.unregister("_accounts")
        return rows.num_rows

    def replace_derived(self, tables: dict[str, pa.Table]) -> None:
        """Swap derived tables for freshly computed ones, atomically."""
        with self.transaction():
            for name, table in tables.items():
                if name not in DERIVED_DDL:
                    raise ValueError(f"{name} is not a derived table")
                self._con.register("_derived", table)
                try:
                    self._con.execute(f"DELETE FROM {name}")
                    cols = ", ".join(table.column_names)
                    self._con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _derived")
                finally:
                    self._con.unregister("_derived")

    def insert_arrow(self, name: str, select: str, table: pa.Table, params: list[Any] | None = None) -> None:
        """Insert into ``name`` the rows of ``select``, which reads ``table`` as ``_in``."""
        with self._lock:
            self._con.register("_in", table)
            try:
                self._con.execute(f"INSERT INTO {name} {select}", params or [])
            finally:
                self._con.unregister("_in")

    def query_writing(
        self, sql: str, params: list[Any] | None = None, *, tables: dict[str, pa.Table] | None = None
    ) -> list[dict[str, Any]]:
        """Like ``query``, on the writing connection: it sees the open transaction's own writes
        (``query`` sees committed data only). The query may read the given Arrow tables."""
        with self._lock:
            for alias, table in (tables or {}).items():
                self._con.register(alias, table)
            try:
                rel = self._con.execute(sql, params or [])
                cols = [d[0] for d in rel.description]
                return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
            finally:
                for alias in tables or {}:
                    self._con.unregister(alias)

    def create_table_as(self, name: str, sql: str, *, tables: dict[str, pa.Table] | None = None) -> None:
        """Create (or replace) a scratch table from a query (which may read the given Arrow tables)."""
        with self._lock:
            for alias, table in (tables or {}).items():
                self._con.register(alias, table)
            try:
                self._con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
            finally:
                for alias in tables or {}:
                    self._con.unregister(alias)

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest stored event."""
        return self._seq
