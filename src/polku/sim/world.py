"""Generate a seeded synthetic B2B world, block by block of accounts, with its ground truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from polku.model import EARLIEST_TS, MAX_FUTURE, utcnow
from polku.sim import funnel, journeys
from polku.sim.assemble import accounts_table, contacts_table, events_table
from polku.sim.events import Clock, EventBuffer
from polku.sim.ids import block_rng
from polku.sim.params import SimParams
from polku.sim.people import make_accounts, make_contacts
from polku.sim.truth import block_truth, contact_stages, world_truth
from polku.sim.vocab import prop_vocab

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    """A generated world: CRM accounts and contacts, the event log, and the truth behind them."""

    accounts: pa.Table
    contacts: pa.Table
    events: pa.Table
    truth: dict[str, Any]


@dataclass(frozen=True)
class Block:
    """One block of accounts with everything generated for them (events sorted by ts)."""

    index: int
    accounts: pa.Table
    contacts: pa.Table
    events: pa.Table
    truth: dict[str, Any] | None


def make_clock(start: datetime, days: int) -> Clock:
    """Validate the time window (after 1990, not in the future) and return its clock."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if days < 1:
        raise ValueError("days must be at least 1")
    if start < EARLIEST_TS:
        raise ValueError(f"start must not be before {EARLIEST_TS.date()}")
    end = start + timedelta(days=days)
    if end > utcnow() + MAX_FUTURE:
        raise ValueError(f"the world would end in the future ({end.isoformat()}); move start back")
    return Clock(start_us=(start - _EPOCH) // timedelta(microseconds=1), days=days)


def _check(n_accounts: int, seed: int, events_per_account: int) -> None:
    """Reject sizes and seeds the generator cannot honour."""
    if n_accounts < 1:
        raise ValueError("n_accounts must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    if events_per_account < 0:
        raise ValueError("events_per_account must be non-negative")


def generate_block(
    block: int, n_accounts: int, seed: int, *, events_per_account: int, clock: Clock,
    params: SimParams, with_truth: bool = True,
) -> Block:
    """Generate block `block` (accounts block*block_size ...) of a world of n_accounts."""
    first = block * params.block_size
    n = min(params.block_size, n_accounts - first)
    if n <= 0:
        raise ValueError(f"block {block} is past the last account")
    rng = block_rng(seed, block)
    vocab = prop_vocab()
    acc = make_accounts(rng, seed, first, n)
    c = make_contacts(rng, acc, seed, block, params, clock)
    buf = EventBuffer(clock, rng, n_static=len(vocab.strings))
    target = events_per_account * n
    skew = params.clock_skew_fraction

    journeys.anonymous_history(buf, vocab, c)
    traits = buf.intern(c.identify_props)
    journeys.identify_calls(buf, vocab, c, traits)
    journeys.interest(buf, vocab, c)
    journeys.nurture_touches(buf, vocab, c, params.nurture_rates, skew)
    journeys.web_background(buf, vocab, c, int(params.web_share * target))
    journeys.email_background(buf, vocab, c, int(params.email_share * target), skew)
    journeys.social_background(buf, vocab, c)

    decision = funnel.decide(rng, buf.columns(), c, clock, params)
    sale = funnel.sales(buf, vocab, c, acc, decision, params)
    cust = funnel.onboard(rng, c, n, sale, decision, clock, params)
    funnel.customer_life(buf, vocab, c, acc, cust, sale, params, block)
    funnel.product_data(buf, vocab, c, acc, cust, target - buf.count)

    cols = buf.columns()
    stage = contact_stages(cols, len(c))
    crm_known = funnel.crm_knowledge(rng, stage, params.p_crm_known)
    shared = journeys.shared_devices(
        block_rng(seed, block, stream=1), c, clock, params.p_shared_device, traits
    )
    events = events_table(rng, cols, c, acc, clock, crm_known, buf.extra, seed, block, shared)
    truth = None
    if with_truth:
        truth = block_truth(cols, c, acc, decision, sale, cust, stage, crm_known, shared)
    return Block(block, accounts_table(acc), contacts_table(c, acc, crm_known, events), events, truth)


def iter_blocks(
    n_accounts: int, seed: int = 0, *, events_per_account: int = 150,
    start: datetime = DEFAULT_START, days: int = 365, params: SimParams | None = None,
    with_truth: bool = True,
) -> Iterator[Block]:
    """The world's blocks in order; each depends only on (seed, block index) and the sizes."""
    _check(n_accounts, seed, events_per_account)
    params = params or SimParams()
    clock = make_clock(start, days)
    for block in range(-(-n_accounts // params.block_size)):
        yield generate_block(
            block, n_accounts, seed, events_per_account=events_per_account, clock=clock,
            params=params, with_truth=with_truth,
        )


def sort_by_ts(events: pa.Table) -> pa.Table:
    """Events in ts order; ties keep their block order, so the result is deterministic."""
    ts = pc.cast(events["ts"], pa.int64()).to_numpy()  # chunked -> one numpy array
    return events.take(pa.array(np.argsort(ts, kind="stable")))


def generate(
    n_accounts: int = 200, seed: int = 0, *, events_per_account: int = 150,
    start: datetime = DEFAULT_START, days: int = 365, params: SimParams | None = None,
) -> World:
    """A whole world in memory: the same arguments always give identical tables."""
    params = params or SimParams()
    blocks = list(
        iter_blocks(
            n_accounts, seed, events_per_account=events_per_account, start=start, days=days,
            params=params,
        )
    )
    events = sort_by_ts(pa.concat_tables([b.events for b in blocks]))
    truth = world_truth(
        [b.truth for b in blocks if b.truth is not None], seed=seed, n_accounts=n_accounts,
        events_per_account=events_per_account,
        start=start if start.tzinfo else start.replace(tzinfo=UTC), days=days, params=params,
        n_events=events.num_rows,
    )
    return World(
        accounts=pa.concat_tables([b.accounts for b in blocks]).combine_chunks(),
        contacts=pa.concat_tables([b.contacts for b in blocks]).combine_chunks(),
        events=events,
        truth=truth,
    )
