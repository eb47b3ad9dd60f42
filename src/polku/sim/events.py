"""The clock of a world and a column buffer that collects generated events as integer codes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polku.sim.vocab import (
    CHANNEL_CODE,
    TYPE_CHANNEL,
    TYPE_CODE,
    TYPE_EVIDENCE,
    TYPE_GRANULARITY,
)

# How an event carries identity (resolved into columns at assembly time):
KIND_WEB = 0  # a tracked device: anonymous_id, plus e-mail once that device is identified
KIND_IDENTIFY = 1  # the identify call itself: anonymous_id + e-mail (+ CRM id, account)
KIND_PERSON = 2  # a known person: e-mail and/or CRM id

_DAY_US = 86_400_000_000
_DAY_S = 86_400.0
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Clock:
    """Turns day offsets from the world's start into UTC microsecond timestamps."""

    start_us: int
    days: int

    @property
    def end_us(self) -> int:
        """First microsecond after the world's window."""
        return self.start_us + self.days * _DAY_US

    @property
    def scale(self) -> float:
        """Journey durations shrink for worlds shorter than a year, so funnels still complete."""
        return min(1.0, self.days / 365.0)

    def to_us(self, t: np.ndarray, granularity: np.ndarray | float = 1.0) -> np.ndarray:
        """Timestamps (µs) of day offsets, floored to the granularity in seconds."""
        seconds = self.start_us / 1e6 + np.asarray(t, dtype=np.float64) * _DAY_S
        g = np.asarray(granularity, dtype=np.float64)
        us = (np.floor(seconds / g) * g * 1e6).astype(np.int64)
        return np.maximum(us, self.start_us)

    def to_us_or_never(self, t: np.ndarray, granularity: float = 1.0) -> np.ndarray:
        """Like to_us, with NEVER where t is infinite (a step that does not happen)."""
        out = np.full(t.shape, NEVER, dtype=np.int64)
        ok = np.isfinite(t)
        out[ok] = self.to_us(t[ok], granularity)
        return out

    def office(self, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Move finite day offsets forward into weekday office hours (08:30-17:30 EET)."""
        t = np.asarray(t, dtype=np.float64)
        out = t.copy()
        ok = np.isfinite(t)
        base = self.start_us / _DAY_US
        a = base + t[ok]
        day = np.floor(a)
        new = rng.uniform(6.5 / 24, 15.5 / 24, size=a.shape)
        day += new < a - day
        dow = (day.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        day += np.where(dow == 5, 2, np.where(dow == 6, 1, 0))
        out[ok] = day + new - base
        return out


@dataclass
class EventBuffer:
    """Appends vectorised batches of events; drops those past the end of the window.

    Properties are indices: below n_static into the fixed vocabulary, above it into
    `extra`, the block's own texts (identify traits, ticket ids) added with intern().
    """

    clock: Clock
    rng: np.random.Generator
    n_static: int = 0
    extra: list[str] = field(default_factory=list)
    _parts: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    count: int = 0

    def intern(self, texts: list[str]) -> np.ndarray:
        """Property indices for block-specific JSON texts."""
        first = self.n_static + len(self.extra)
        self.extra.extend(texts)
        return np.arange(first, first + len(texts), dtype=np.int64)

    def add(
        self,
        contact: np.ndarray,
        t: np.ndarray,
        etype: str | np.ndarray,
        *,
        channel: str | int | np.ndarray | None = None,
        device: int | np.ndarray = -1,
        kind: int = KIND_PERSON,
        topic: int | np.ndarray = -1,
        value: float | np.ndarray = np.nan,
        prop: int | np.ndarray = 0,
        evidence: int | np.ndarray | None = None,
        office: bool = False,
    ) -> None:
        """Add events of one or more types for the given contacts at day offsets t."""
        contact = np.asarray(contact, dtype=np.int64)
        n = contact.size
        if n == 0:
            return
        if isinstance(etype, str):
            codes = np.full(n, TYPE_CODE[etype], dtype=np.int8)
        else:
            codes = np.asarray(etype, dtype=np.int8)
        t = np.broadcast_to(np.asarray(t, dtype=np.float64), (n,))
        if office:
            t = self.clock.office(t, self.rng)
        ts = self.clock.to_us(t, TYPE_GRANULARITY[codes])
        keep = ts < self.clock.end_us
        if channel is None:
            chan = TYPE_CHANNEL[codes]
        elif isinstance(channel, str):
            chan = np.full(n, CHANNEL_CODE[channel], dtype=np.int8)
        else:
            chan = np.broadcast_to(np.asarray(channel, dtype=np.int8), (n,))
        ev = TYPE_EVIDENCE[codes] if evidence is None else evidence

        def col(x: object, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, dtype=dtype), (n,))[keep]

        self._parts.append(
            (
                contact[keep],
                ts[keep],
                codes[keep],
                col(chan, np.int8),
                col(device, np.int8),
                col(kind, np.int8),
                col(topic, np.int16),
                col(value, np.float64),
                col(prop, np.int32),
                col(ev, np.int8),
            )
        )
        self.count += int(keep.sum())

    def columns(self) -> EventColumns:
        """All events added so far, as one set of arrays (generation order)."""
        if not self._parts:
            return EventColumns.empty()
        cols = [np.concatenate(parts) for parts in zip(*self._parts, strict=True)]
        self._parts = [tuple(cols)]
        return EventColumns(*cols)


@dataclass(frozen=True)
class EventColumns:
    """Generated events as parallel arrays; strings are attached later."""

    contact: np.ndarray
    ts: np.ndarray
    type: np.ndarray
    channel: np.ndarray
    device: np.ndarray
    kind: np.ndarray
    topic: np.ndarray
    value: np.ndarray
    prop: np.ndarray
    evidence: np.ndarray

    @classmethod
    def empty(cls) -> EventColumns:
        """No events."""
        dtypes = (np.int64, np.int64, np.int8, np.int8, np.int8, np.int8, np.int16, np.float64,
                  np.int32, np.int8)
        return cls(*(np.zeros(0, dtype=d) for d in dtypes))

    def __len__(self) -> int:
        """Number of events."""
        return len(self.ts)
