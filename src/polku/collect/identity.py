"""Identity resolution: which identifiers (cookies, e-mails, CRM ids) are one person.

Pure: identifiers and the links between them in, contacts and merges out. Links are
applied in time order with a union-find, so the result depends only on what was
linked and when, never on the order in which the data arrived. Split constraints (from
``unmerge``) forbid two identifiers from ever sharing a contact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from itertools import groupby
from dataclasses import dataclass, field
from datetime import datetime

STRONG_KINDS = ("crm", "email")


def kind_of(identity: str) -> str:
    """The kind of an identity string: crm, email or anon."""
    return identity.split(":", 1)[0]


def is_strong(identity: str) -> bool:
    """Whether an identity names a known person (e-mail or CRM id), not just a device."""
    return kind_of(identity) in STRONG_KINDS


def contact_id_for(anchor: str) -> str:
    """A stable contact id derived from the contact's earliest identifier."""
    return "c_" + hashlib.sha1(anchor.encode()).hexdigest()[:12]


@dataclass(frozen=True, order=True)
class Link:
    """Evidence that two identifiers are one person, first seen at ``ts``."""

    ts: datetime
    a: str
    b: str
    cause: str  # identify, event or manual
    event_id: str | None = None


@dataclass(frozen=True)
class Merge:
    """Two known contacts united by a link; undoable by splitting the two anchors."""

    ts: datetime
    survivor: str  # anchor of the side that keeps its contact id
    merged: str  # anchor of the side that was folded in
    link: Link

    @property
    def merge_id(self) -> str:
        """A stable id of this merge, the same on every rebuild."""
        key = f"{self.survivor}|{self.merged}|{self.link.a}|{self.link.b}"
        return "m_" + hashlib.sha1(key.encode()).hexdigest()[:12]


@dataclass
class Resolution:
    """The outcome: each identifier's contact and the merges that happened."""

    contact_of: dict[str, str] = field(default_factory=dict)
    anchor_of_contact: dict[str, str] = field(default_factory=dict)
    merges: list[Merge] = field(default_factory=list)
    blocked: list[Link] = field(default_factory=list)


class _Sets:
    """Union-find over identifiers, tracking each set's anchor, size and constraints."""

    def __init__(self, first_seen: dict[str, datetime], forbid: dict[str, set[str]]) -> None:
        self.parent: dict[str, str] = {}
        self.first_seen = first_seen
        self.anchor: dict[str, str] = {}
        self.size: dict[str, int] = {}
        self.strong: dict[str, bool] = {}
        self.constrained: dict[str, set[str]] = {}
        self.forbid = forbid

    def add(self, x: str) -> None:
        if x not in self.parent:
            self.parent[x] = x
            self.anchor[x] = x
            self.size[x] = 1
            self.strong[x] = is_strong(x)
            self.constrained[x] = {x} if x in self.forbid else set()

    def find(self, x: str) -> str:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def key(self, identity: str) -> tuple[datetime, str]:
        return (self.first_seen[identity], identity)

    def allowed(self, r1: str, r2: str) -> bool:
        c1, c2 = self.constrained[r1], self.constrained[r2]
        if not c1 or not c2:
            return True
        return not any(self.forbid[x] & c2 for x in c1)

    def union(self, r1: str, r2: str) -> None:
        if self.size[r1] < self.size[r2]:
            r1, r2 = r2, r1
        self.parent[r2] = r1
        self.size[r1] += self.size.pop(r2)
        self.anchor[r1] = min(self.anchor[r1], self.anchor.pop(r2), key=self.key)
        self.strong[r1] = self.strong[r1] or self.strong.pop(r2)
        self.constrained[r1] |= self.constrained.pop(r2)

    def lone_newcomer(self, x: str, ts: datetime) -> bool:
        """Whether x is alone in its set and first appears at ts."""
        root = self.find(x)
        return self.size[root] == 1 and self.first_seen[x] >= ts


def resolve(
    first_seen: dict[str, datetime],
    links: Iterable[Link],
    splits: Iterable[tuple[str, str]] = (),
) -> Resolution:
    """Group identifiers into contacts.

    ``first_seen`` holds every identifier and when it first appeared; ``links`` the
    evidence joining them; ``splits`` pairs that must stay apart. Links are applied in
    time order, one record (event, identify call, manual merge) at a time; merges are
    recorded as ``_apply_record`` says.
    """
    forbid: dict[str, set[str]] = {}
    for a, b in splits:
        forbid.setdefault(a, set()).add(b)
        forbid.setdefault(b, set()).add(a)
    sets = _Sets(dict(first_seen), forbid)
    for identity in first_seen:
        sets.add(identity)
    out = Resolution()
    ordered = sorted(links, key=lambda k: (k.ts, k.event_id or "", k.cause, k.a, k.b))
    for _, record in groupby(ordered, key=lambda k: (k.ts, k.event_id, k.cause)):
        _apply_record(sets, list(record), out)
    for identity in sets.parent:
        cid = contact_id_for(sets.anchor[sets.find(identity)])
        out.contact_of[identity] = cid
        out.anchor_of_contact.setdefault(cid, sets.anchor[sets.find(identity)])
    return out


def _apply_record(sets: _Sets, record: list[Link], out: Resolution) -> None:
    """Apply the links of one record (an event, identify call or manual merge) together.

    A merge is recorded when the record unites contacts that each existed before it with
    an e-mail or CRM id; identifiers new in this record are part of it, not contacts of
    their own (a CRM id and an e-mail announced together are one person by definition).
    """
    for link in record:
        for x in (link.a, link.b):
            if x not in sets.parent:
                sets.first_seen.setdefault(x, link.ts)
                sets.add(x)
    manual = record[0].cause == "manual"
    known: dict[str, str] = {}  # root before the record -> its anchor, for contacts that count
    for link in record:
        for x in (link.a, link.b):
            root = sets.find(x)
            if sets.strong[root] and (manual or not sets.lone_newcomer(x, link.ts)):
                known[root] = sets.anchor[root]
    side = {x: sets.find(x) for link in record for x in (link.a, link.b)}
    for link in record:
        r1, r2 = sets.find(link.a), sets.find(link.b)
        if r1 == r2:
            continue
        if not sets.allowed(r1, r2):
            out.blocked.append(link)
            continue
        sets.union(r1, r2)
    if len(known) < 2:
        return
    survivor_root = min(known, key=lambda r: sets.key(known[r]))
    for root, anchor in sorted(known.items(), key=lambda kv: sets.key(kv[1])):
        if root == survivor_root or sets.find(anchor) != sets.find(known[survivor_root]):
            continue
        link = next(
            (k for k in record if {side[k.a], side[k.b]} == {root, survivor_root}),
            next(k for k in record if root in (side[k.a], side[k.b])),
        )
        out.merges.append(Merge(ts=link.ts, survivor=known[survivor_root], merged=anchor, link=link))
