"""Delivering the outbox: claim, stage, mark committing, commit, record. See docs/decisions/0008.

Per batch of messages (one per channel slot):

1. claim: pending -> ``sending`` with this run's claim token (committed);
2. stage every message (SMTP: all but the final dot) in parallel;
3. mark the staged ones ``committing`` (committed) - from here a crash leaves them in doubt;
4. commit every message (the final dot) in parallel;
5. record the outcomes, and an ``email_sent`` event per marketing e-mail, in one transaction.

After a crash, ``sending`` rows go back to pending (no dot was sent) and ``committing``
rows are held ``in_doubt`` (or sent again, by policy). The last consent check is made
just before staging, so an unsubscribe that arrives after the tick still stops the e-mail.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from jinja2.exceptions import TemplateError

from polku.model import utcnow
from polku.nurture import logevents, message
from polku.nurture.channels import Channel, DeliveryError, SmtpChannel, WebhookChannel
from polku.nurture.engine import Runner, run_direct
from polku.nurture.settings import SmtpSettings
from polku.nurture.tokens import ensure_secret
from polku.store import nurture as sql

if TYPE_CHECKING:
    from polku.workspace import Workspace

log = logging.getLogger("polku.nurture")
RUN_ID: Final[str] = uuid.uuid4().hex[:12]  # claims made by this process carry it
MAX_BACKOFF: Final[timedelta] = timedelta(hours=6)
CLAIM_CHUNKS: Final[int] = 8  # a claim takes this many batches' worth of messages
EVENT_BATCH: Final[int] = 2000  # email_sent events are appended this many at a time


@dataclass
class DeliveryResult:
    """What a delivery run did."""

    sent: int = 0
    failed: int = 0
    retry: int = 0
    suppressed: int = 0
    in_doubt: int = 0
    recovered: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # pending messages of channels not configured
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data."""
        return dict(self.__dict__)


class ConsentWatch:
    """The latest consent word per e-mail address, kept up to date from the event log incrementally."""

    def __init__(self) -> None:
        self.seq = 0
        self.state: dict[str, str] = {}

    def refresh(self, ws: Workspace) -> None:
        """Read consent events stored since the last look."""
        rows, self.seq = sql.consent_changes(ws.store, self.seq)
        for r in rows:
            if r["consent"] in ("true", "false"):
                self.state[r["email"]] = r["consent"]

    def refused(self, address: str) -> bool:
        """Whether the address has said no to marketing e-mail (its latest word)."""
        return self.state.get(address.lower()) == "false"


@dataclass(frozen=True)
class _Lane:
    """One of the lanes delivery runs side by side; it owns a contiguous share of every channel's slots."""

    index: int
    of: int

    def slots(self, total: int) -> tuple[int, int]:
        """(first slot, number of slots) of this lane in a channel with ``total`` slots."""
        size = max(1, total // self.of)
        first = min(self.index * size, total - 1)
        return first, (total - first if self.index == self.of - 1 else size)


class _Run:
    """What the lanes of one delivery run share: the result, the message budget and the stop signals."""

    def __init__(self, result: DeliveryResult, limit: int | None, stop: threading.Event | None, deadline: float | None) -> None:
        self.result = result
        self.lock = threading.Lock()
        self._left = limit
        self._stop = stop
        self._deadline = deadline

    def take(self, want: int) -> int:
        """How many messages the next claim may take (0: stop)."""
        if (self._stop is not None and self._stop.is_set()) or (self._deadline is not None and time.perf_counter() > self._deadline):
            return 0
        with self.lock:
            if self._left is None:
                return want
            got = min(want, self._left)
            self._left -= got
            return got

    def give_back(self, unused: int) -> None:
        """Return budget a claim did not use."""
        with self.lock:
            if self._left is not None:
                self._left += unused


def default_channels(settings: SmtpSettings) -> dict[str, Channel]:
    """E-mail through SMTP when a host is set; webhooks always."""
    channels: dict[str, Channel] = {"webhook": WebhookChannel()}
    if settings.host:
        channels["email"] = SmtpChannel(settings)
    return channels


class Deliverer:
    """Hands the outbox's pending messages to their channels, exactly once except for a crash's in-doubt instant."""

    def __init__(
        self, ws: Workspace, *, run: Runner[Any] = run_direct, settings: SmtpSettings | None = None,
        channels: dict[str, Channel] | None = None, clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ws = ws
        self.run = run
        self.settings = settings or SmtpSettings()
        self.channels = channels if channels is not None else default_channels(self.settings)
        self.clock = clock
        self._consent = ConsentWatch()
        self._lock = threading.Lock()
        self._claims_lock = threading.Lock()
        self._consent_lock = threading.Lock()
        self._versions: dict[str, dict[str, Any]] = {}
        self._claims = 0

    def close(self) -> None:
        """Close the channels' connections."""
        for ch in self.channels.values():
            ch.close()

    def deliver(self, *, limit: int | None = None, stop: threading.Event | None = None, max_seconds: float | None = None) -> DeliveryResult:
        """Deliver pending messages until none is due (or ``limit`` messages, ``max_seconds``, or ``stop``).

        The channel slots are split between two lanes that run side by side, so one lane's
        database writes overlap the other's network round trips.
        """
        with self._lock:
            started = time.perf_counter()
            result = DeliveryResult()
            store = self.ws.store
            resend = self.settings.in_doubt == "resend"
            result.recovered = self.run(lambda: sql.recover(store, RUN_ID, resend_in_doubt=resend, now=self.clock()))
            self.run(lambda: self._sent_events([(r, None) for r in sql.sent_without_event(store, self.clock())]))
            secret = store.meta("nurture_secret") or self.run(lambda: _ensure(self.ws))
            smallest = min((ch.slots for ch in self.channels.values()), default=1)
            lanes = [_Lane(k, 2) for k in range(2)] if smallest >= 2 else [_Lane(0, 1)]
            run = _Run(result, limit, stop, started + max_seconds if max_seconds is not None else None)
            with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="polku-lane") as pool:
                for future in [pool.submit(self._lane, lane, run, secret) for lane in lanes]:
                    future.result()
            result.waiting = {k: v for k, v in _waiting(self.ws, sorted(self.channels)).items() if v}
            result.seconds = time.perf_counter() - started
            return result

    def _lane(self, lane: _Lane, run: _Run, secret: str) -> None:
        """Claim and deliver batches on this lane's share of the slots until nothing is due."""
        store = self.ws.store
        names = sorted(self.channels)
        width = max(lane.slots(ch.slots)[1] for ch in self.channels.values())
        sent: list[tuple[dict[str, Any], message.Outgoing | None]] = []
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix=f"polku-deliver-{lane.index}") as pool:
            while True:
                want = run.take(width * CLAIM_CHUNKS)
                if want <= 0:
                    break
                token = self._token()
                rows = self.run(lambda: sql.claim(store, token, names, want, self.clock()))
                run.give_back(want - len(rows))
                if not rows:
                    break
                with self._consent_lock:
                    self._consent.refresh(self.ws)
                by_channel: dict[str, list[dict[str, Any]]] = {}
                for r in rows:
                    by_channel.setdefault(r["channel"], []).append(r)
                for name, group in by_channel.items():
                    ch = self.channels[name]
                    base, size = lane.slots(ch.slots)
                    for start in range(0, len(group), size):
                        sent += self._batch(ch, group[start:start + size], token, secret, pool, run, base)
                if len(sent) >= EVENT_BATCH:
                    self.run(lambda: self._sent_events(sent))
                    sent = []
        if sent:
            self.run(lambda: self._sent_events(sent))

    def _templates(self, versions: list[str]) -> dict[str, dict[str, Any]]:
        """Template versions by fingerprint; a version never changes, so each is read once."""
        missing = {v for v in versions if v and v not in self._versions}
        if missing:
            found = sql.content_versions(self.ws.store, missing)
            with self._claims_lock:
                self._versions.update({v: _json(d) for v, d in found.items()})
        return self._versions

    def _token(self) -> str:
        with self._claims_lock:
            self._claims += 1
            return f"{RUN_ID}:{self._claims}"

    def _sent_events(self, sent: list[tuple[dict[str, Any], message.Outgoing | None]]) -> None:
        """An ``email_sent`` event per marketing e-mail handed over (ids make a repeat a no-op).

        Written in batches rather than with each status change (an append costs about as much
        for 1 row as for 2,000); a crash in between is repaired by the next run's first pass.
        """
        rows = [_sent_event(r, out, r["sent_at"] or self.clock()) for r, out in sent if r["purpose"] == "marketing"]
        if rows:
            with self.ws.store.transaction():
                logevents.append(self.ws.store, rows)

    def _batch(self, ch: Channel, rows: list[dict[str, Any]], token: str, secret: str, pool: ThreadPoolExecutor,
               run: _Run, base: int) -> list[tuple[dict[str, Any], message.Outgoing]]:
        """Hand over one message per slot; returns those handed over."""
        store = self.ws.store
        definitions = self._templates([r["content_version"] for r in rows if r["channel"] == "email"])
        failed: list[tuple[dict[str, Any], DeliveryError]] = []
        suppressed: list[dict[str, Any]] = []
        ready: list[tuple[dict[str, Any], message.Outgoing]] = []
        for r in rows:
            if r["purpose"] == "marketing" and self._consent.refused(r["recipient"] or ""):
                suppressed.append(r)
                continue
            try:
                out = message.build(r, definitions.get(r["content_version"] or ""), secret)
            except (TemplateError, LookupError, ValueError, TypeError) as exc:
                failed.append((r, DeliveryError("permanent", f"cannot build the message: {exc}")))
                continue
            ready.append((r, out))
        staged_errors = list(pool.map(lambda i: _try(ch.stage, base + i, ready[i][1]), range(len(ready))))
        staged = [(base + i, r, out) for i, ((r, out), err) in enumerate(zip(ready, staged_errors, strict=True)) if err is None]
        failed += [(r, err) for (r, _), err in zip(ready, staged_errors, strict=True) if err is not None]

        def mark_committing() -> None:
            with store.transaction():
                sql.set_status(store, token, [r["message_id"] for _, r, _ in staged], "committing")
                self._record(token, [], failed, suppressed, run)

        try:
            self.run(mark_committing)
        except BaseException:
            for i, _, _ in staged:  # nothing was handed over: the relay drops a message without its final dot
                ch.abort(i)
            raise
        commit_errors = list(pool.map(lambda k: _try(ch.commit, staged[k][0], staged[k][2]), range(len(staged))))
        sent = [(r, out) for (_, r, out), err in zip(staged, commit_errors, strict=True) if err is None]
        after = [(r, err) for (_, r, _), err in zip(staged, commit_errors, strict=True) if err is not None]

        def mark_done() -> None:
            with store.transaction():
                self._record(token, sent, after, [], run)

        self.run(mark_done)
        now = self.clock()
        return [({**r, "sent_at": now}, out) for r, out in sent]

    def _record(self, token: str, sent: list[tuple[dict[str, Any], message.Outgoing]],
                failed: list[tuple[dict[str, Any], DeliveryError]], suppressed: list[dict[str, Any]], run: _Run) -> None:
        """Write outcomes (inside the caller's transaction), then count them."""
        counts = DeliveryResult()
        self._write_outcomes(token, sent, failed, suppressed, counts)
        with run.lock:  # never held around database calls: a lane in a transaction may be waiting for it
            for name in ("sent", "suppressed", "in_doubt", "retry", "failed"):
                setattr(run.result, name, getattr(run.result, name) + getattr(counts, name))

    def _write_outcomes(self, token: str, sent: list[tuple[dict[str, Any], message.Outgoing]],
                        failed: list[tuple[dict[str, Any], DeliveryError]], suppressed: list[dict[str, Any]],
                        result: DeliveryResult) -> None:
        store = self.ws.store
        now = self.clock()
        sql.set_status(store, token, [r["message_id"] for r, _ in sent], "sent", sent_at=now)
        result.sent += len(sent)
        sql.set_status(store, token, [r["message_id"] for r in suppressed], "suppressed", error="the contact unsubscribed before delivery")
        result.suppressed += len(suppressed)
        for r, err in failed:
            ids = [r["message_id"]]
            if err.outcome == "in_doubt":
                resend = r["channel"] == "webhook" or self.settings.in_doubt == "resend"
                sql.set_status(store, token, ids, "pending" if resend else "in_doubt", error=err.reason, retry_at=now, doubt=True)
                result.in_doubt += 1
                log.warning("message %s is in doubt: %s", r["message_id"], err.reason)
            elif err.outcome == "transient" and r["attempts"] < self.settings.max_attempts:
                wait = min(timedelta(minutes=2 ** max(r["attempts"] - 1, 0)), MAX_BACKOFF)
                sql.set_status(store, token, ids, "pending", error=err.reason, retry_at=now + wait)
                result.retry += 1
            else:
                sql.set_status(store, token, ids, "failed", error=err.reason)
                result.failed += 1


def _try(fn: Callable[[int, message.Outgoing], None], slot: int, out: message.Outgoing) -> DeliveryError | None:
    try:
        fn(slot, out)
    except DeliveryError as exc:
        return exc
    return None


def _json(text: str) -> dict[str, Any]:
    import json

    value: dict[str, Any] = json.loads(text)
    return value


def _ensure(ws: Workspace) -> str:
    with ws.store.transaction():
        return ensure_secret(ws.store)


def _waiting(ws: Workspace, configured: list[str]) -> dict[str, int]:
    rows = ws.store.query(
        "SELECT channel, count(*) AS n FROM nurture_outbox WHERE status = 'pending' GROUP BY channel"
    )
    return {r["channel"]: int(r["n"]) for r in rows if r["channel"] not in configured}


def _sent_event(row: dict[str, Any], out: message.Outgoing | None, now: datetime) -> dict[str, Any]:
    props = {"message_id": row["message_id"], "journey": row["journey_id"], "step": row["step_id"]}
    if out is not None and out.subject:
        props["subject"] = out.subject
    return logevents.event_row(f"nurture-sent:{row['message_id']}", now, "email_sent", "email",
                               {"anonymous_id": None, "email": row["recipient"], "crm_id": None}, props)
