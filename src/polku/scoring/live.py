"""Stored scores that follow the log: each write of events moves the scores of the contacts
it belongs to, without a full rescore.

Once a rescore has stored every contact's incremental state (``score_state``), the
workspace calls ``events_stored`` inside the transaction that stored new events. For
each event whose identity is a known contact (the identity index below, rebuilt after
each refresh, maps ``events.identity_key`` to a contact id as the ``identities`` table
does), the contact's state is loaded, the event folded in (``apply_event``), and the
state and the contact's ``lead_scores`` row replaced before the transaction commits: a
reader sees the events with their scores or neither. A prospect reaching
``mql_threshold`` becomes a lead (a ``lead_qualified`` event with the score and reasons,
as a rescore appends), once. A write costs a handful of point statements, whatever the
size of the log.

The rest waits for the next refresh, which every read of account scores or contact
views triggers first (and the server runs when the workspace is quiet). ``refreshed``
then catches up, in one transaction:

- account roll-ups (``account_scores``) of every account with a contact whose stored
  score moved since the account was rolled up: reading all members' states is not cheap
  enough for every write. An account with more than ``ACCOUNT_MEMBERS`` scored contacts
  waits for the next rescore (noted in ``score_accounts_behind``);
- contacts whose state is missing (newly identified: events of identities no refresh
  had seen belong to no contact yet), behind the log (event count or last touch differ:
  bulk imports and writes touching more than ``LIVE_CONTACTS`` contacts, which only note
  that scores lag, merges, splits) or whose account or fit traits changed: their state is
  rebuilt from all their events, they are scored, and may become leads. States of
  contacts that no longer exist are dropped. Past ``REBUILD_LIMIT`` such contacts, they
  are left to ``polku score``, which the status says.

States are tied to the rules they were built with. When the rules file changes (or no
longer parses), nothing is folded into the old states and nothing is rebuilt: stored
scores stay as of the old rules, the reason is kept in ``scores_stale`` and logged, and
the next ``polku score`` rebuilds everything with the new rules.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from polku.errors import PolkuError
from polku.model import identity_fields, utcnow
from polku.scoring.card import ScoreCard
from polku.scoring.engagement import EPOCH
from polku.scoring.match import Touch
from polku.scoring.rules import ScoringRules, load_scoring_rules
from polku.scoring.state import ContactState, apply_event, read_score, rules_key
from polku.store import scores as stored

if TYPE_CHECKING:
    from polku.scoring.account import Member
    from polku.workspace import Workspace

log = logging.getLogger("polku")

LIVE_CONTACTS: Final = 1_000  # a write touching more known contacts is caught up at the next refresh
REBUILD_LIMIT: Final = 20_000  # a refresh finding more contacts behind leaves them to `polku score`
ACCOUNT_MEMBERS: Final = 200  # an account with more scored contacts is rolled up by the next rescore
MQL_SOURCE: Final = "scoring"
_SHOWN_BEHIND: Final = 100  # accounts named in score_accounts_behind; the rest only counted


# ---- the identity index -------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityIndex:
    """Resolved identities by ``hash(identity)`` (the events' ``identity_key``), as of one refresh.

    Sorted keys and, aligned, their contact ids as one Arrow array: some 25 bytes an
    identity, a binary search a lookup. A 64-bit key is trusted without comparing the
    identity text, as contact timelines do.
    """

    token: str | None  # the refresh it reflects (meta "refreshed")
    keys: npt.NDArray[np.uint64]
    contacts: pa.Array

    def contacts_of(self, keys: Sequence[int]) -> list[str | None]:
        """The contact of each key, None for an identity the refresh has not seen."""
        if not len(self.keys) or not len(keys):
            return [None] * len(keys)
        probe = np.asarray(keys, dtype=np.uint64)
        pos = np.minimum(np.searchsorted(self.keys, probe), len(self.keys) - 1)
        hit = self.keys[pos] == probe
        return [self.contacts[int(p)].as_py() if h else None for p, h in zip(pos, hit, strict=True)]


def build_index(ws: Workspace, token: str | None) -> IdentityIndex:
    """The identity index of the workspace's identities table."""
    table = stored.identity_keys(ws.store)
    keys = table.column("key").to_numpy().astype(np.uint64, copy=False)
    return IdentityIndex(token, keys, table.column("contact_id").combine_chunks())


# ---- one contact's state while it is being moved ---------------------------------------------


@dataclass
class Held:
    """A loaded state and what the live path keeps beside it (see ``polku.store.scores``)."""

    state: ContactState
    events: int
    probability: float | None = None
    mql_events: int | None = None
    card: ScoreCard | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Held:
        """A stored state row's JSON."""
        return cls(ContactState.from_dict(data), int(data.get("events") or 0), data.get("probability"),
                   data.get("mql_events"))

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in ``score_state``."""
        return {**self.state.to_dict(), "events": self.events, "probability": self.probability,
                "mql_events": self.mql_events}

    def fold(self, row: dict[str, Any], rules: ScoringRules) -> None:
        """Count one stored event and fold it in if it is a touchpoint (not an identify call)."""
        self.events += 1
        if row["type"] != "identify":
            apply_event(self.state, Touch.from_row(row), rules)

    def read(self, rules: ScoringRules, now: datetime) -> ScoreCard:
        """The score card now (or at the newest event, if that is stamped ahead of the clock)."""
        last = self.state.last_touch_us
        at = now if last is None else max(now, _from_us(last))
        self.card = read_score(self.state, rules, at)
        return self.card

    def lead_row(self) -> dict[str, Any]:
        """The contact's ``lead_scores`` row from its card."""
        card = self.card
        assert card is not None
        return {"contact_id": card.contact_id, "account_id": card.account_id, "fit": card.fit,
                "engagement": card.engagement, "score": card.score, "grade": card.grade,
                "fit_grade": card.grade[:1], "reasons": [r.text for r in card.reasons],
                "probability": self.probability}


@dataclass
class Move:
    """What one write or catch-up changes, worked out before anything is written."""

    held: dict[str, Held]  # moved contacts, their states folded forward and scored
    accounts: list[dict[str, Any]]  # account cards rolled up afresh
    mql: list[tuple[str, str, ScoreCard]]  # prospects to make leads: contact, anchor identity, card
    gone: list[str] = field(default_factory=list)  # contacts that no longer exist
    loaded: dict[str, stored.Loaded] = field(default_factory=dict)  # the held states' rows, as read


def _from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def mql_item(contact_id: str, anchor: str, card: ScoreCard) -> dict[str, Any]:
    """The ``lead_qualified`` event that makes a prospect a lead, with the score and reasons."""
    reasons = "; ".join(r.text for r in card.reasons)
    return {
        "type": "lead_qualified", "channel": "crm", **identity_fields(anchor), "ts": card.as_of.isoformat(),
        "event_id": f"mql-{contact_id}-{card.as_of:%Y%m%d%H%M%S}",
        "properties": {"reason": f"score {card.score:.0f} ({card.grade}): {reasons}", "score": card.score,
                       "grade": card.grade, "source": MQL_SOURCE},
    }


# ---- the live path of one workspace -----------------------------------------------------------


class LiveScores:
    """What the live path keeps between writes: the identity index and the parsed rules."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = weakref.ref(ws)  # the workspace keys the registry below: no strong reference back
        self.index: IdentityIndex | None = None
        self.rules: ScoringRules | None = None
        self.rules_stamp: tuple[int, int] | None = None
        self.paused = 0
        self._meta: dict[str, str] = {}
        self._lagged = False  # whether this catch-up noted something it leaves for later

    @property
    def ws(self) -> Workspace:
        """The workspace (open as long as this is in use)."""
        ws = self._ws()
        assert ws is not None
        return ws

    # ---- hooks ----------------------------------------------------------------------------
    def events_stored(self, after_seq: int, meta: dict[str, str]) -> None:
        """Fold the events stored after ``after_seq`` into their contacts' stored scores
        (call inside the transaction that stored them, with ``scores.following``'s meta).

        Everything is worked out before anything is written. Should that fail, the events
        are stored all the same and the failure noted: the next refresh catches up.
        """
        store = self.ws.store
        if self.paused or store.read_only or store.last_seq <= after_seq:
            return
        try:
            rules = self._rules_in_force(meta)
            move = None if rules is None else self._plan_write(after_seq, rules)
        except Exception:  # noqa: BLE001 - scoring must never cost a write its events
            log.exception("scoring new events failed; their contacts catch up at the next refresh")
            self._lag("scoring a write failed (see the log); its contacts catch up at the next refresh")
            return
        if move is not None:
            self._store(move, rules)

    def refreshed(self) -> None:
        """After a refresh: catch up contacts whose state is missing or behind, drop vanished ones."""
        self.index = None
        store = self.ws.store
        if self.paused or store.read_only:
            return
        with store.transaction():
            meta = stored.following(store)
            if meta is None:
                return
            self._lagged = False
            try:
                rules = self._rules_in_force(meta)
                move = None if rules is None else self._plan_catch_up(rules)
            except Exception:  # noqa: BLE001 - a failed catch-up must not fail the refresh
                log.exception("catching stored scores up after a refresh failed")
                self._lag("catching up after a refresh failed (see the log); run `polku score`")
                return
            if move is None:
                return
            self._store(move, rules)
            if not self._lagged and self._meta.get(stored.STALE_META) is not None:  # all caught up
                store.execute("DELETE FROM meta WHERE key = ?", [stored.STALE_META])

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Leave writes and refreshes alone meanwhile (a full rescore is about to rewrite everything)."""
        self.paused += 1
        try:
            yield
        finally:
            self.paused -= 1

    def qualify(self, made: Sequence[tuple[str, str, ScoreCard]]) -> None:
        """Make contacts leads: append ``lead_qualified`` for each (contact, anchor identity, card)
        and fold it into the contact's state, so the live path does not qualify it again
        before a refresh has seen the event."""
        if not made:
            return
        store = self.ws.store
        with store.transaction():
            meta = stored.following(store)
            rules = None if meta is None else self._rules_in_force(meta)
            held: dict[str, Held] = {}
            loaded: dict[str, stored.Loaded] = {}
            if rules is not None:
                key = rules_key(rules)
                loaded = stored.load_states(store, [cid for cid, _, _ in made])
                held = {cid: Held.from_json(x.data) for cid, x in loaded.items() if x.data.get("rules_key") == key}
            self._store(Move(held, [], list(made), loaded=loaded), rules)

    # ---- working out a move -----------------------------------------------------------------
    def _plan_write(self, after_seq: int, rules: ScoringRules) -> Move | None:
        """What the events stored after ``after_seq`` change, or None when nothing (or too much)."""
        store = self.ws.store
        rows = stored.new_events(store, after_seq)
        by_contact: dict[str, list[dict[str, Any]]] = {}
        for row, cid in zip(rows, self._index().contacts_of([r["identity_key"] for r in rows]), strict=True):
            if cid is not None:
                by_contact.setdefault(cid, []).append(row)
        if not by_contact:
            return None  # new identities only: the next refresh makes them contacts and scores them
        if len(by_contact) > LIVE_CONTACTS:
            self._lag(f"a write of {len(rows):,} events for {len(by_contact):,} known contacts; "
                      "their scores catch up at the next refresh")
            return None
        key = rules_key(rules)
        loaded = stored.load_states(store, list(by_contact))
        held: dict[str, Held] = {}
        for cid, events in by_contact.items():
            got = loaded.get(cid)
            if got is None or got.data.get("rules_key") != key:
                continue  # no state yet (or another rules'): the next refresh builds it from the log
            h = Held.from_json(got.data)
            for row in events:
                h.fold(row, rules)
            held[cid] = h
        if len(held) < len(by_contact):
            self._lag("some known contacts have no score state yet; the next refresh builds them")
        if not held:
            return None
        move = self._settle(held, rules, accounts=[])
        move.loaded = loaded
        return move

    def _plan_catch_up(self, rules: ScoringRules) -> Move | None:
        """States to rebuild and drop after a refresh, or None when too many (noted)."""
        store = self.ws.store
        key = rules_key(rules)
        behind, gone = stored.drift(store, key)
        if len(behind) > REBUILD_LIMIT:
            self._lag(f"{len(behind):,} contacts changed since their scores were stored, more than "
                      f"the {REBUILD_LIMIT:,} a refresh catches up; run `polku score`")
            return None
        left = {x.data.get("account_id") for x in stored.load_states(store, gone).values()} - {None}
        held = {d["contact_id"]: Held.from_json(d) for d in stored.rebuild_states(store, rules, key, behind)}
        rebuilt = {h.state.account_id for h in held.values() if h.state.account_id}
        accounts = sorted({*stored.moved_accounts(store), *rebuilt, *(str(a) for a in left)})
        if len(accounts) > REBUILD_LIMIT:
            self._lag(f"{len(accounts):,} accounts to roll up, more than the {REBUILD_LIMIT:,} a refresh "
                      "does; run `polku score`")
            accounts = []
        move = self._settle(held, rules, accounts=accounts)
        move.gone = gone
        return move

    def _settle(self, held: dict[str, Held], rules: ScoringRules, *, accounts: list[str]) -> Move:
        """Score the moved contacts, pick the prospects to make leads and roll up ``accounts``."""
        now = utcnow()
        for h in held.values():
            h.read(rules, now)
        cards = self._roll_up(accounts, held, rules, now)
        return Move(held, cards, self._over_threshold(held, rules))

    def _over_threshold(self, held: dict[str, Held], rules: ScoringRules) -> list[tuple[str, str, ScoreCard]]:
        """Prospects at or over ``mql_threshold`` that no earlier write made leads."""
        threshold = rules.mql_threshold
        if threshold is None:
            return []
        over = [cid for cid, h in held.items() if h.card is not None and h.card.score >= threshold]
        info = stored.contact_stages(self.ws.store, over)
        made: list[tuple[str, str, ScoreCard]] = []
        for cid in over:
            row, h = info.get(cid), held[cid]
            if row is None or row["stage"] != "prospect":
                continue
            if h.mql_events is not None and row["event_count"] < h.mql_events:
                continue  # made a lead by an earlier write; the refresh has not seen that event yet
            assert h.card is not None
            made.append((cid, str(row["anchor"]), h.card))
        return made

    def _roll_up(
        self, accounts: list[str], held: dict[str, Held], rules: ScoringRules, now: datetime
    ) -> list[dict[str, Any]]:
        """Account cards of ``accounts`` from all their members' states (``held`` ones as held)."""
        if not accounts:
            return []
        from polku.scoring.account import account_card  # pandas: only the refresh's catch-up needs it

        key = rules_key(rules)
        groups = stored.account_states(self.ws.store, accounts, ACCOUNT_MEMBERS, held)
        big = [a for a in accounts if a in groups and groups[a] is None]
        if big:
            self._accounts_behind(big)
        cards = []
        for account_id in accounts:
            group = groups.get(account_id)
            if not group:
                continue  # too big, or no scored contact left
            members: list[Held] = []
            for cid, data in group.items():
                h = held.get(cid) or (Held.from_json(data) if data and data.get("rules_key") == key else None)
                if h is None:
                    break  # a member without a current state: the refresh that builds it rolls the account up
                members.append(h)
            else:
                at = max([now] + [_from_us(m.state.last_touch_us) for m in members if m.state.last_touch_us])
                rolled = [self._member(m, rules, at) for m in members]
                cards.append(account_card(account_id, rolled, rules, at).as_dict())
        return cards

    # ---- writing a move ---------------------------------------------------------------------
    def _store(self, move: Move, rules: ScoringRules | None) -> None:
        """Write a move: drop vanished contacts, append the lead_qualified events (folded into
        their contacts' states, marked), and replace states, scores and roll-ups."""
        store = self.ws.store
        stored.drop(store, move.gone)
        if move.mql:
            self._append_mql(move.mql, move.held, rules)
        held = move.held.values()
        stored.save(store, [h.to_json() for h in held], [h.lead_row() for h in held], move.accounts, utcnow(),
                    loaded=move.loaded)

    def _append_mql(
        self, made: Sequence[tuple[str, str, ScoreCard]], held: dict[str, Held], rules: ScoringRules | None
    ) -> None:
        """Append the lead_qualified events and fold each into its contact's held state, marked."""
        store = self.ws.store
        prepared = self.ws.prepare_batch([mql_item(cid, anchor, card) for cid, anchor, card in made])
        owner = dict(zip(prepared.table.column("event_id").to_pylist(), (cid for cid, _, _ in made), strict=True))
        after = store.last_seq
        store.append_events(prepared.table, MQL_SOURCE, validated=True)
        if rules is None:
            return
        now = utcnow()
        for row in stored.new_events(store, after):
            h = held.get(owner.get(row["event_id"], ""))
            if h is not None:
                h.fold(row, rules)
                h.mql_events = h.events  # pending until a refresh counts this many events
                h.read(rules, now)

    @staticmethod
    def _member(h: Held, rules: ScoringRules, at: datetime) -> Member:
        from polku.scoring.account import Member

        card = read_score(h.state, rules, at)
        t = h.state.traits
        return Member(h.state.contact_id, t.get("role"), t.get("org_level"), card.fit, card.engagement,
                      h.state.last_touch_us, h.probability)

    # ---- rules, meta and the index --------------------------------------------------------
    def _rules_in_force(self, meta: dict[str, str]) -> ScoringRules | None:
        """The rules the stored states were built with, or None (and a note why) when the
        rules file changed or no longer parses."""
        self._meta = dict(meta)
        stored_key = meta[stored.STATE_RULES_META]
        try:
            rules = self.current_rules()
        except PolkuError as exc:
            self._lag(f"the scoring rules cannot be read ({exc.message}); stored scores wait for "
                      "a fixed rules file and `polku score`")
            return None
        if rules_key(rules) != stored_key:
            self._lag("the scoring rules changed since the last rescore; stored scores keep the "
                      "old rules until `polku score`")
            return None
        return rules

    def current_rules(self) -> ScoringRules:
        """The workspace's scoring rules, parsed again only when the file changes."""
        from polku.workspace import CONFIG_FILE

        path = self.ws.home / CONFIG_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self.rules is None or stamp != self.rules_stamp:
            self.rules = load_scoring_rules(path)
            self.rules_stamp = stamp
        return self.rules

    def _lag(self, why: str) -> None:
        """Note (once) why stored scores lag the log."""
        self._lagged = True
        if self._meta.get(stored.STALE_META) != why:
            log.warning("stored scores lag the log: %s", why)
            self.ws.store.set_meta(stored.STALE_META, why)
            self._meta[stored.STALE_META] = why

    def _accounts_behind(self, accounts: list[str]) -> None:
        """Note accounts whose roll-up waits for the next rescore."""
        known = orjson.loads(self._meta.get(stored.ACCOUNTS_BEHIND_META) or '{"count": 0, "accounts": []}')
        named = list(dict.fromkeys([*known["accounts"], *accounts]))
        note = {"count": max(known["count"], len(named)), "accounts": named[:_SHOWN_BEHIND]}
        if note != known:
            text = orjson.dumps(note).decode()
            self.ws.store.set_meta(stored.ACCOUNTS_BEHIND_META, text)
            self._meta[stored.ACCOUNTS_BEHIND_META] = text

    def _index(self) -> IdentityIndex:
        token = self._meta.get("refreshed")
        if self.index is None or self.index.token != token:
            self.index = build_index(self.ws, token)
        return self.index


_LIVE: weakref.WeakKeyDictionary[Workspace, LiveScores] = weakref.WeakKeyDictionary()


def of(ws: Workspace) -> LiveScores:
    """The live path of a workspace (one per open workspace)."""
    live = _LIVE.get(ws)
    if live is None:
        live = _LIVE[ws] = LiveScores(ws)
    return live


def events_stored(ws: Workspace, after_seq: int, meta: dict[str, str]) -> None:
    """Fold the events stored after ``after_seq`` into stored scores (see the module docs)."""
    of(ws).events_stored(after_seq, meta)


def refreshed(ws: Workspace) -> None:
    """Catch stored scores up after a refresh (see the module docs)."""
    of(ws).refreshed()
