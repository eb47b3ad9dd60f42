"""The Python API: one workspace folder holding the event log, the CRM data and the derived views.

Everything the CLI and the HTTP API do goes through here.
"""

from __future__ import annotations

import csv
import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
from pydantic import ValidationError

from polku import keys as apikeys
from polku import profiles
from polku.collect import crm
from polku.collect.columns import EVENT_SCHEMA
from polku.collect.identity import contact_id_for
from polku.collect.importer import count_rows, detect_format, field_errors, read_chunks
from polku.errors import Forbidden, ImportRejected, InvalidInput, NotFound, PayloadTooLarge, Unauthorized
from polku.lifecycle.rules import Rule, load_rules
from polku.model import MAX_BATCH, EventIn, IdentifyIn, identity_fields, utcnow
from polku.store import derive, operational
from polku.store import scores as stored_scores
from polku.store.duck import DuckStore

if TYPE_CHECKING:
    from polku.analytics.tables import Tables
    from polku.leads import Leads

DB_FILE = "polku.duckdb"
CONFIG_FILE = "polku.yaml"
SHOWN_REJECTS = 50

Progress = Callable[[int], None]


@dataclass(frozen=True)
class BatchResult:
    """Which items of a batch were stored, which were already there, which were rejected and why."""

    accepted: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


@dataclass(frozen=True)
class PreparedBatch:
    """A validated batch ready to store: the good rows, their item indexes, the rejected items."""

    table: pa.Table
    indexes: list[int]
    rejected: list[dict[str, Any]]


@dataclass
class ImportResult:
    """What an import did."""

    path: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    rejects: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


class Workspace:
    """A Polku workspace: ``Workspace("polku-data")`` creates or opens the folder."""

    def __init__(self, home: str | Path = "polku-data", *, read_only: bool = False) -> None:
        self.home = Path(home)
        if not read_only:
            self.home.mkdir(parents=True, exist_ok=True)
        elif not (self.home / DB_FILE).exists():
            raise NotFound(f"no workspace at {self.home} (create one with any import, or polku sim)")
        self.rules: tuple[Rule, ...] = load_rules(self.home / CONFIG_FILE)
        self.store = DuckStore(self.home / DB_FILE, read_only=read_only)
        self._refresh_lock = threading.Lock()

    # ---- lifetime ---------------------------------------------------------------
    def close(self) -> None:
        """Close the workspace's database."""
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- sending touchpoints ---------------------------------------------------------
    def track(self, type: str, channel: str, **fields: Any) -> str:
        """Record one touchpoint; returns its event id. Raises InvalidInput naming the field."""
        return self._one({"type": type, "channel": channel, **fields}, identify=False)

    def identify(self, **fields: Any) -> str:
        """Link an anonymous id to an e-mail or CRM id, with contact and account traits."""
        return self._one(fields, identify=True)

    def _one(self, fields: dict[str, Any], *, identify: bool) -> str:
        result = self.ingest([fields], "python", identify=identify)
        if result.rejected:
            errors = result.rejected[0]["errors"]
            what = "identify call" if identify else "event"
            raise InvalidInput(
                f"invalid {what}: " + "; ".join(f"{e['field']}: {e['reason']}" for e in errors), details=errors
            )
        return str((result.accepted or result.duplicates)[0]["event_id"])

    def ingest(self, items: list[Any], source: str = "api", *, identify: bool = False) -> BatchResult:
        """Validate a batch item by item and store the good ones; the result lists every item."""
        return self.store_batch(self.prepare_batch(items, identify=identify), source)

    def prepare_batch(self, items: list[Any], *, identify: bool = False) -> PreparedBatch:
        """Validate a batch item by item (no I/O: the API runs this outside the writer thread)."""
        if len(items) > MAX_BATCH:
            raise PayloadTooLarge(f"a batch may hold at most {MAX_BATCH} items, got {len(items)}")
        good: list[int] = []
        rows: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        now = utcnow()
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise InvalidInput("each item must be a JSON object")
                event = IdentifyIn.model_validate(item).as_event() if identify else EventIn.model_validate(item)
            except ValidationError as exc:
                rejected.append({"index": index, "event_id": _maybe_id(item), "errors": field_errors(exc)})
                continue
            except InvalidInput as exc:
                rejected.append({"index": index, "event_id": None, "errors": [{"field": "item", "reason": exc.message}]})
                continue
            row = event.row(now)
            row["properties"] = orjson.dumps(row["properties"]).decode()
            good.append(index)
            rows.append(row)
        return PreparedBatch(pa.Table.from_pylist(rows, schema=EVENT_SCHEMA), good, rejected)

    def store_batch(self, batch: PreparedBatch, source: str) -> BatchResult:
        """Store a prepared batch; events already stored are reported as duplicates."""
        return self.store_batches([batch], source)[0]

    def store_batches(self, batches: list[PreparedBatch], source: str) -> list[BatchResult]:
        """Store several prepared batches with one append (the server's group commit)."""
        with self.store.transaction():  # the events and the stored scores they move commit together
            after = self.store.last_seq
            result = self.store.append_events(pa.concat_tables([b.table for b in batches]), source, validated=True)
            meta = stored_scores.following(self.store)
            if meta is not None:
                from polku.scoring import live

                live.events_stored(self, after, meta)
        dups = set(result.duplicate_rows)
        out, offset = [], 0
        for batch in batches:
            ids = batch.table.column("event_id").to_pylist()
            accepted: list[dict[str, Any]] = []
            duplicates: list[dict[str, Any]] = []
            for pos, (index, event_id) in enumerate(zip(batch.indexes, ids, strict=True)):
                (duplicates if offset + pos in dups else accepted).append({"index": index, "event_id": event_id})
            out.append(BatchResult(accepted=accepted, duplicates=duplicates, rejected=batch.rejected))
            offset += batch.table.num_rows
        return out

    # ---- files ---------------------------------------------------------------------
    def import_events(
        self,
        path: str | Path,
        *,
        fmt: str | None = None,
        skip_bad: bool = False,
        rejects_path: str | Path | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import a CSV, JSON Lines or Parquet file of events, all or nothing.

        With bad rows, nothing is written and ImportRejected lists them by line; with
        ``skip_bad`` the good rows are stored and the bad ones written to ``rejects_path``.
        """
        started = time.perf_counter()
        path = Path(path)
        fmt = detect_format(path, fmt)
        result = ImportResult(path=str(path))
        source = f"import:{path.name}"
        with self.store.transaction():
            for chunk in read_chunks(path, fmt):
                result.rows += chunk.rows
                result.rejects.extend(chunk.rejects)
                write = skip_bad or not result.rejects  # after a bad row, only look for more
                appended = self.store.append_events(
                    chunk.table, source, first_row=chunk.first_line, write=write, validated=chunk.validated
                )
                result.rejects.extend((chunk.line_of(row), reason) for row, reason in appended.rejects)
                result.inserted += appended.inserted
                result.duplicates += len(appended.duplicate_rows)
                if progress:
                    progress(chunk.rows)
            result.rejects.sort()
            result.rejected = len(result.rejects)
            if result.rejects and not skip_bad:
                raise _rejected(path, result.rejects)
            if result.rejects:  # before the commit: if the list cannot be written, nothing is kept
                result.rejects_file = str(_write_rejects(path, result.rejects, rejects_path))
            if result.inserted:  # no per-event scoring in bulk: the next refresh catches scores up
                stored_scores.defer(self.store, f"{result.inserted:,} events imported from {path.name}")
        result.seconds = time.perf_counter() - started
        return result

    def count_rows(self, path: str | Path, fmt: str | None = None) -> int:
        """Rows in an event file, for progress bars."""
        return count_rows(Path(path), detect_format(Path(path), fmt))

    def import_accounts(self, path: str | Path, *, skip_bad: bool = False, rejects_path: str | Path | None = None) -> ImportResult:
        """Import a CRM export of accounts (CSV with account_id, name, domain, ...)."""

        def store(rows: list[dict[str, Any]]) -> tuple[int, int]:
            n = self.store.upsert_crm_accounts(crm.accounts_table(rows))
            self.store.set_meta("crm_changed", utcnow().isoformat())
            return n, 0

        return self._import_crm(Path(path), crm.parse_accounts(Path(path)), store, skip_bad, rejects_path)

    def import_contacts(self, path: str | Path, *, skip_bad: bool = False, rejects_path: str | Path | None = None) -> ImportResult:
        """Import a CRM export of contacts (CSV with crm_id/email, name, role, org_level, account_id, ...)."""

        def store(rows: list[dict[str, Any]]) -> tuple[int, int]:
            for r in rows:
                r["properties"] = orjson.dumps(r["properties"]).decode()
            table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
            appended = self.store.append_events(table, f"crm:{Path(path).name}", validated=True)
            return appended.inserted, len(appended.duplicate_rows)

        return self._import_crm(Path(path), crm.parse_contacts(Path(path)), store, skip_bad, rejects_path)

    def _import_crm(
        self,
        path: Path,
        parsed: crm.Parsed,
        store: Callable[[list[dict[str, Any]]], tuple[int, int]],
        skip_bad: bool,
        rejects_path: str | Path | None,
    ) -> ImportResult:
        """All or nothing unless skip_bad; the rejected rows go to a rejects file."""
        result = ImportResult(
            path=str(path), rows=len(parsed.rows) + len(parsed.rejects), rejects=parsed.rejects,
            rejected=len(parsed.rejects),
        )
        if parsed.rejects and not skip_bad:
            raise _rejected(path, parsed.rejects)
        if parsed.rejects:  # first: if the list cannot be written, nothing is stored
            result.rejects_file = str(_write_rejects(path, parsed.rejects, rejects_path))
        if parsed.rows:
            result.inserted, result.duplicates = store(parsed.rows)
        return result

    # ---- derived views ---------------------------------------------------------------
    def _state_token(self, meta: dict[str, str] | None = None) -> str:
        meta = self.store.all_meta() if meta is None else meta
        rules = hashlib.sha1(repr(self.rules).encode()).hexdigest()[:12]
        return f"{self.store.last_seq}|{meta.get('crm_changed')}|{meta.get('overrides_changed')}|{rules}"

    def is_fresh(self) -> bool:
        """Whether the derived tables reflect everything stored."""
        meta = self.store.all_meta()
        return meta.get("refreshed") == self._state_token(meta)

    def refresh(self, *, force: bool = False) -> derive.RefreshStats | None:
        """Rebuild identities, contacts, accounts, merges and stages if anything changed."""
        with self._refresh_lock:
            token = self._state_token()
            if not force and self.store.meta("refreshed") == token:
                return None
            stats = derive.refresh(self.store, self.rules)
            if not self.store.read_only:
                self.store.set_meta("refreshed", token)
                if stored_scores.following(self.store) is not None:  # catch stored scores up
                    from polku.scoring import live

                    live.refreshed(self)
            return stats

    def _fresh(self) -> DuckStore:
        if not self.store.read_only:
            self.refresh()
        return self.store

    def fresh_store(self) -> DuckStore:
        """The store, with the derived tables brought up to date first."""
        return self._fresh()

    @property
    def leads(self) -> Leads:
        """Lead and account scores: rescore, explain, rank, train (``polku score``)."""
        from polku.leads import Leads

        return Leads(self)

    def contact(self, key: str, *, limit: int = profiles.TIMELINE_LIMIT, channel: str | None = None) -> dict[str, Any]:
        """The 360° view of a contact, found by contact id, e-mail, CRM id or anonymous id."""
        return profiles.contact_view(self._fresh(), key, limit=limit, channel=channel)

    def account(self, key: str, *, limit: int = profiles.TIMELINE_LIMIT, channel: str | None = None) -> dict[str, Any]:
        """The 360° view of an account, found by id or domain."""
        return profiles.account_view(self._fresh(), key, limit=limit, channel=channel)

    def tables(self) -> Tables:
        """The refreshed touchpoints, stage history, contacts and accounts as Ibis tables."""
        from polku.store.tables import analytics_tables  # Ibis loads only when analytics run

        return analytics_tables(self._fresh().ibis())

    def stats(self) -> dict[str, Any]:
        """Counts of accounts, contacts and events, and contacts by lifecycle stage."""
        return profiles.stats(self._fresh())

    # ---- identity overrides --------------------------------------------------------------
    def merges(self, contact: str | None = None) -> list[dict[str, Any]]:
        """Recorded merges, all or those of one contact."""
        return profiles.merges(self._fresh(), contact)

    def identity_overrides(self) -> list[dict[str, Any]]:
        """Manual merges and splits (from unmerge), with their reasons, oldest first."""
        return operational.overrides(self.store)

    def merge(self, a: str, b: str, *, reason: str) -> str:
        """Merge two contacts (each named by any identifier) that are one person; returns the contact id."""
        if not reason.strip():
            raise InvalidInput("a merge needs a reason")
        store = self._fresh()
        anchors = [self._anchor(store, k) for k in (a, b)]
        if anchors[0] == anchors[1]:
            raise InvalidInput(f"{a!r} and {b!r} are already the same contact")
        now = utcnow()
        a_id, b_id = anchors
        operational.drop_overrides(store, "split", a_id, b_id)
        operational.add_override(store, _oid("merge", a_id, b_id), "merge", a_id, b_id, reason, now, now)
        store.set_meta("overrides_changed", now.isoformat())
        self.refresh()
        return profiles.find_contact_id(store, anchors[0])

    def unmerge(self, merge_id: str, *, reason: str) -> tuple[str, str]:
        """Undo a merge: both contacts come back with their own events. Returns their ids."""
        if not reason.strip():
            raise InvalidInput("an unmerge needs a reason")
        store = self._fresh()
        rows = store.query("SELECT * FROM merges WHERE merge_id = ?", [merge_id])
        if not rows:
            raise NotFound(f"no merge {merge_id!r} (see `polku merges`)")
        m = rows[0]
        now = utcnow()
        a, b = m["survivor_identity"], m["merged_identity"]
        operational.drop_overrides(store, "merge", a, b)
        operational.add_override(store, _oid("split", a, b), "split", a, b, reason, now, now)
        store.set_meta("overrides_changed", now.isoformat())
        self.refresh()
        return contact_id_for(a), contact_id_for(b)

    # ---- lead handover ----------------------------------------------------------------------
    def decide_lead(self, key: str, decision: str, *, reason: str, by: str | None = None) -> str:
        """Sales accepts a lead (it becomes an opportunity) or rejects it (back to prospect).

        The decision is stored as a ``sales_accepted`` or ``lead_rejected`` event carrying
        the reason, so it shows in the timeline and stage history and trains the lead model.
        Returns the event id.
        """
        types = {"accept": "sales_accepted", "reject": "lead_rejected"}
        if decision not in types:
            raise InvalidInput(f"decision must be accept or reject, got {decision!r}")
        if not reason.strip():
            raise InvalidInput(f"a lead {decision} needs a reason")
        store = self._fresh()
        properties = {"reason": reason.strip(), **({"by": by} if by else {})}
        return self.track(types[decision], "crm", **identity_fields(self._anchor(store, key)), properties=properties)

    def _anchor(self, store: DuckStore, key: str) -> str:
        cid = profiles.find_contact_id(store, key)
        return str(store.query("SELECT anchor FROM contacts WHERE contact_id = ?", [cid])[0]["anchor"])

    # ---- API keys --------------------------------------------------------------------------
    def create_key(self, scope: str, name: str | None = None) -> str:
        """Create an API key; returns the token, which is shown only this once."""
        if scope not in apikeys.SCOPE_RANK:
            raise InvalidInput(f"scope must be one of {', '.join(apikeys.SCOPE_RANK)}, got {scope!r}")
        key_id, secret, token = apikeys.new_token()
        operational.add_key(self.store, key_id, apikeys.hash_secret(secret), scope, name, utcnow())
        return token

    def list_keys(self) -> list[dict[str, Any]]:
        """API keys (never their secrets)."""
        return operational.list_keys(self.store)

    def revoke_key(self, key_id: str) -> None:
        """Revoke an API key by its id."""
        if not operational.revoke_key(self.store, key_id, utcnow()):
            raise NotFound(f"no active key {key_id!r}")

    def authorize(self, token: str | None, needed: str) -> str:
        """The key id of a token allowed to do ``needed``; raises Unauthorized or Forbidden."""
        parts = apikeys.split_token(token or "")
        if parts is None:
            raise Unauthorized("an API key is required (header Authorization: Bearer pk_…)")
        record = operational.get_key(self.store, parts[0])
        if record is None or record["revoked_at"] is not None or not apikeys.secret_matches(parts[1], record["secret_hash"]):
            raise Unauthorized("the API key is not valid")
        if not apikeys.allows(record["scope"], needed):
            raise Forbidden(f"this key has scope {record['scope']!r}; this needs {needed!r}")
        return str(record["key_id"])


def _maybe_id(item: Any) -> str | None:
    return item.get("event_id") if isinstance(item, dict) and isinstance(item.get("event_id"), str) else None


def _oid(kind: str, a: str, b: str) -> str:
    return f"{kind[0]}_" + hashlib.sha1(f"{kind}|{min(a, b)}|{max(a, b)}".encode()).hexdigest()[:12]


def _rejected(path: Path, rejects: list[tuple[int, str]]) -> ImportRejected:
    shown = "\n".join(f"  line {line}: {reason}" for line, reason in rejects[:SHOWN_REJECTS])
    more = f"\n  … and {len(rejects) - SHOWN_REJECTS} more" if len(rejects) > SHOWN_REJECTS else ""
    return ImportRejected(
        f"{path.name}: {len(rejects)} bad row(s); nothing was imported "
        f"(fix them, or use --skip-bad to import the good rows):\n{shown}{more}",
        details=[{"line": line, "reason": reason} for line, reason in rejects],
    )


def _write_rejects(path: Path, rejects: Iterable[tuple[int, str]], target: str | Path | None) -> Path:
    out = Path(target) if target else path.with_name(path.name + ".rejects.csv")
    try:
        f = out.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the rejects file {out}: {exc.strerror}; nothing was imported") from exc
    with f:
        w = csv.writer(f)
        w.writerow(["line", "reason"])
        w.writerows(rejects)
    return out
