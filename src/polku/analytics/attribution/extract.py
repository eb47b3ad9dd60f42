"""Journeys before conversion, as Ibis expressions over ``Tables`` (engine-neutral).

A subject (a contact, or an account with its whole buying group) converts at its
first conversion: the first stage-history entry of the chosen stage, or its first
touchpoint of the chosen type. Its journey is its touchpoints in the chosen channels
strictly before that moment (ties with the conversion are the conversion itself),
inside the date range and the lookback window. A subject that converts after the date
range, or never, has a non-converting journey: its touchpoints up to the end of the
range. A subject that converted before the range is left out: it was no longer a
candidate. Ordering is (ts, seq); ``seq`` breaks ties between equal timestamps.

Everything here is Ibis built from portable operations (windows, joins, group-bys,
array collect and sort); no ordered aggregates, which some engines (Spark) lack.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from polku.analytics.attribution.pathset import SEP
from polku.analytics.tables import Tables
from polku.model import CHANNELS

if TYPE_CHECKING:
    from polku.analytics.attribution.query import AttributionQuery

_UTC: Final = dt.Timestamp(timezone="UTC")
_POS_DIGITS: Final[int] = 9  # step numbers are zero-padded to sort as text


def _ts(value: datetime) -> ir.TimestampScalar:
    """A UTC timestamp literal."""
    return ibis.literal(value, type=_UTC)


def conversion_times(tables: Tables, query: AttributionQuery) -> ir.Table:
    """Each subject's first conversion at any time: columns subject, conv_ts."""
    conversion = query.conversion
    if conversion.event_type is not None:
        t = tables.touchpoints
        key = t.contact_id if query.level == "contact" else t.account_id
        hits = t.filter(t.type == conversion.event_type, key.notnull())
        return hits.group_by(subject=hits[key.get_name()]).aggregate(conv_ts=hits.ts.min())
    s = tables.stages
    hits = s.filter(s.subject == query.level, s.stage.isin(conversion.stages()))
    return hits.group_by(subject=hits.subject_id).aggregate(conv_ts=hits.ts.min())


def conversions_in_range(tables: Tables, query: AttributionQuery) -> ir.Table:
    """The subjects converting inside the date range, with their conversion times."""
    conv = conversion_times(tables, query)
    if query.date_from is not None:
        conv = conv.filter(conv.conv_ts >= _ts(query.date_from))
    if query.date_to is not None:
        conv = conv.filter(conv.conv_ts < _ts(query.date_to))
    return conv


def journey_touches(tables: Tables, query: AttributionQuery, end: datetime | None = None) -> ir.Table:
    """Touchpoints of every journey: columns subject, label, ts, seq, converted (1 or 0).

    ``end`` is the end of non-converting journeys for the lookback window when the query
    has no date_to (the latest touchpoint's time, say); it is not needed otherwise.
    """
    t = tables.touchpoints
    key = t.contact_id if query.level == "contact" else t.account_id
    known = query.channels(sorted(CHANNELS))
    keep = t.channel.isin(known) & key.notnull()
    if query.date_from is not None:
        keep &= t.ts >= _ts(query.date_from)
    if query.date_to is not None:
        keep &= t.ts < _ts(query.date_to)
    touches = t.filter(keep).select(subject=key, label=t[query.by], ts=t.ts, seq=t.seq)
    conv = conversion_times(tables, query)
    joined = touches.left_join(conv, touches.subject == conv.subject).select(
        touches.subject, touches.label, touches.ts, touches.seq, conv.conv_ts
    )
    converted = joined.conv_ts.notnull()
    if query.date_to is not None:
        converted &= joined.conv_ts < _ts(query.date_to)
    keep = ~converted | (joined.ts < joined.conv_ts)
    if query.date_from is not None:  # converted before the range: no longer a candidate
        keep &= joined.conv_ts.isnull() | (joined.conv_ts >= _ts(query.date_from))
    if query.lookback_days is not None:
        keep &= _in_lookback(joined.ts, joined.conv_ts, converted, query, end)
    journeys = joined.filter(keep).select(
        "subject", "label", "ts", "seq", converted=converted.cast("int64")
    )
    if query.max_touches is not None:
        back = ibis.row_number().over(
            group_by=journeys.subject, order_by=[journeys.ts.desc(), journeys.seq.desc()]
        )
        journeys = journeys.filter(back < query.max_touches)
    return journeys


def _in_lookback(
    ts: ir.TimestampValue, conv_ts: ir.TimestampValue, converted: ir.BooleanValue,
    query: AttributionQuery, end: datetime | None,
) -> ir.BooleanValue:
    """Whether a touchpoint is at most lookback_days before its journey's end."""
    assert query.lookback_days is not None
    window = ibis.interval(days=query.lookback_days)
    stop = query.date_to or end
    if stop is None:  # non-converting journeys have no known end: keep them whole
        return ~converted | (ts >= conv_ts - window)
    return ts >= ibis.ifelse(converted, conv_ts, _ts(stop)) - window


def path_counts(journeys: ir.Table) -> ir.Table:
    """Identical journeys counted in the engine: columns path (text), conversions, nulls."""
    step = ibis.row_number().over(group_by=journeys.subject, order_by=[journeys.ts, journeys.seq])
    numbered = journeys.mutate(step=step)
    keyed = numbered.mutate(key=numbered.step.cast("string").lpad(_POS_DIGITS, "0").concat(":", numbered.label))
    per = keyed.group_by(["subject", "converted"]).aggregate(keys=keyed.key.collect())
    per = per.select(
        converted=per.converted,
        path=per.keys.sort().map(lambda k: k.substr(_POS_DIGITS + 1)).join(SEP),
    )
    return per.group_by("path").aggregate(
        conversions=per.converted.sum(), nulls=(1 - per.converted).sum()
    )


@dataclass(frozen=True)
class Steps:
    """Per touchpoint of a converting journey: its place and time-decay share in the journey."""

    pos: ir.IntegerValue  # 0 for the first touchpoint
    n: ir.IntegerValue  # touchpoints in the journey
    decay: ir.FloatingValue  # time-decay weight / the journey's sum of them


WeightFn = Callable[[Steps, "AttributionQuery"], ir.FloatingValue]


def _first(s: Steps, q: AttributionQuery) -> ir.FloatingValue:
    """All credit to the first touchpoint."""
    return (s.pos == 0).cast("float64")


def _last(s: Steps, q: AttributionQuery) -> ir.FloatingValue:
    """All credit to the last touchpoint before conversion."""
    return (s.pos == s.n - 1).cast("float64")


def _linear(s: Steps, q: AttributionQuery) -> ir.FloatingValue:
    """Equal credit to every touchpoint."""
    return 1.0 / s.n.cast("float64")


def _time_decay(s: Steps, q: AttributionQuery) -> ir.FloatingValue:
    """Credit halving every half_life_days before the conversion."""
    return s.decay


def _position(s: Steps, q: AttributionQuery) -> ir.FloatingValue:
    """first / middle / last weights; two touchpoints split first + last in their ratio."""
    first, middle, last = q.position_weights
    ends = first + last
    pair_first = first / ends if ends > 0 else 0.5
    middle_each = middle / (s.n - 2).cast("float64")
    return ibis.cases(
        (s.n == 1, 1.0),
        ((s.n == 2) & (s.pos == 0), pair_first),
        (s.n == 2, 1.0 - pair_first),
        (s.pos == 0, first),
        (s.pos == s.n - 1, last),
        else_=middle_each,
    ).cast("float64")


RULE_BASED: Final[dict[str, WeightFn]] = {
    "first_touch": _first,
    "last_touch": _last,
    "linear": _linear,
    "time_decay": _time_decay,
    "position_based": _position,
}


def rule_based_credit(journeys: ir.Table, query: AttributionQuery, models: list[str]) -> ir.Table:
    """Credit per label by the rule-based ``models``: one weight per touchpoint, summed per label."""
    conv = journeys.filter(journeys.converted == 1)
    by_subject = ibis.window(group_by=conv.subject)
    ordered = ibis.window(group_by=conv.subject, order_by=[conv.ts, conv.seq])
    placed = conv.mutate(
        pos=ibis.row_number().over(ordered),
        n=conv.subject.count().over(by_subject),
        newest=conv.ts.epoch_seconds().max().over(by_subject),
    )
    rate = math.log(2.0) / (query.half_life_days * 86_400.0)
    # measured from the journey's newest touchpoint: the shares are the same, no underflow
    weighted = placed.mutate(w=((placed.ts.epoch_seconds() - placed.newest).cast("float64") * rate).exp())
    shared = weighted.mutate(decay=weighted.w / weighted.w.sum().over(ibis.window(group_by=weighted.subject)))
    steps = Steps(pos=shared.pos, n=shared.n, decay=shared.decay)
    credited = shared.select("label", **{m: RULE_BASED[m](steps, query) for m in models})
    return credited.group_by("label").aggregate(**{m: credited[m].sum() for m in models})
