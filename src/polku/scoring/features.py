"""Features of a contact as of a cutoff time, from touchpoints before the cutoff only.

The pass over the event log is written as Ibis expressions over ``Tables`` (grouped
counts per contact, kind of touch and age bucket), so it runs in the engine, on DuckDB
today or on a bigger engine later; only those per-contact counts come to NumPy/pandas,
where windows, mixes and the buying-group roll-up per account are assembled.

What a contact does: touches of each behaviour type (meetings, calls, webinars,
downloads, page views...) in the last 7, 30 and 90 days, touches of other types per
channel and touches per common content topic in the last 90 days; how many channels
and topics; days since the last touch (up to 90); velocity (the last 30 days against the
30 before). What its buying group does: active colleagues, roles and organisational
levels in the last 90 days, whether a decision-maker is active, the account's touches.
Who it is: role, organisational level, industry and company size.

Outcome records are left out: staff decisions and the stage markers themselves
(``lead_qualified``, ``sales_accepted``, ``quote_requested``, orders) would teach the
model to recognise what it should predict. Traits are the current ones (the store keeps
no history of them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from polku.analytics.tables import Tables
from polku.model import STAGE_RANK, STANDARD_EVENTS, Channel
from polku.scoring.engagement import DAY_US
from polku.scoring.engagement import epoch_us as epoch_us_of
from polku.scoring.positions import positions_table, with_positions
from polku.scoring.timecol import epoch_us

OUTCOME_TYPES: Final[tuple[str, ...]] = (
    "lead_qualified", "sales_accepted", "quote_requested", "order_placed", "contract_renewed",
)
BEHAVIOUR_CHANNELS: Final[tuple[str, ...]] = tuple(
    c.value for c in Channel if c not in (Channel.crm, Channel.other)
)
# Counted per type and window; touches of other types are counted per channel, so no
# touch is counted twice and no two features overlap (which keeps contributions readable).
BEHAVIOUR_TYPES: Final[tuple[str, ...]] = (
    "page_view", "content_download", "form_submit", "demo_requested", "email_open", "email_click",
    "unsubscribe", "webinar_registered", "webinar_attended", "event_attended", "meeting_held",
    "call_held", "portal_login", "social_engagement", "ticket_opened", "product_usage",
)
CATEGORICAL: Final[tuple[str, ...]] = ("role", "org_level", "industry")
DECISION_ROLES: Final[tuple[str, ...]] = ("decision_maker", "executive")
UNKNOWN: Final[str] = "unknown"
OTHER: Final[str] = "other"
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A column-name-safe form of a topic or industry."""
    return _SLUG.sub("_", text.lower()).strip("_") or "x"


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute; saved with the model so scoring computes the same ones."""

    channels: tuple[str, ...] = BEHAVIOUR_CHANNELS
    windows: tuple[int, ...] = (7, 30, 90)
    types: tuple[str, ...] = BEHAVIOUR_TYPES
    topics: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()

    @property
    def long_window(self) -> int:
        """The longest window, in days."""
        return max(self.windows)

    def numeric(self) -> list[str]:
        """Names of the numeric features, in order."""
        w = self.long_window
        names = [f"{t}_{d}d" for t in self.types for d in self.windows]
        names += [f"other_{c}_{w}d" for c in self.channels]
        names += [f"topic_{slug(t)}_{w}d" for t in self.topics]
        names += [
            f"channels_{w}d", f"topics_{w}d", "days_since_last", "velocity",
            f"group_active_{w}d", f"group_roles_{w}d", f"group_levels_{w}d",
            f"group_decision_maker_{w}d", f"group_touches_{w}d", "log_employees",
        ]
        return names

    def names(self) -> list[str]:
        """Every feature column: numeric ones, then the categorical traits."""
        return self.numeric() + list(CATEGORICAL)


def learn_spec(tables: Tables, before: datetime, *, n_topics: int = 12, n_industries: int = 12) -> FeatureSpec:
    """A spec with the workspace's most common content topics and industries (before a time)."""
    tp = tables.touchpoints
    recent = tp.filter((epoch_us(tp.ts) < epoch_us_of(before)) & tp.topic.notnull())
    top = recent.group_by("topic").aggregate(n=recent.count()).order_by([ibis.desc("n"), "topic"]).limit(n_topics)
    acc = tables.accounts.filter(tables.accounts.industry.notnull())
    ind = (acc.group_by(industry=acc.industry.lower()).aggregate(n=acc.count())
           .order_by([ibis.desc("n"), "industry"]).limit(n_industries))
    topics = tuple(top.to_pyarrow().column("topic").to_pylist())
    industries = tuple(ind.to_pyarrow().column("industry").to_pylist())
    return FeatureSpec(topics=topics, industries=industries)


def _edges(spec: FeatureSpec) -> list[int]:
    """Upper bounds (days) of the age buckets counts are kept in."""
    return sorted(set(spec.windows) | {30, 60})


def recency_cap(spec: FeatureSpec) -> int:
    """``days_since_last`` stops here: older activity is outside every window."""
    return _edges(spec)[-1]


def activity(tables: Tables, cutoff: datetime, spec: FeatureSpec) -> tuple[ir.Table, ir.Table]:
    """The pass over the event log, as two grouped tables of touchpoints in the window
    before the cutoff: counts and the youngest age (µs) per contact, kind (a listed type,
    else ``other_<channel>``) and age bucket; and counts per contact and listed topic.
    Grouped rather than filtered aggregates: engines run them much faster."""
    tp = tables.touchpoints
    cut_us = epoch_us_of(cutoff)
    t = tp.select("contact_id", "channel", "type", "topic", age=cut_us - epoch_us(tp.ts))
    t = t.filter((t.age > 0) & ~t.type.isin(list(OUTCOME_TYPES)))
    edges = _edges(spec)
    w = t.filter(t.age < edges[-1] * DAY_US)
    kind = ibis.ifelse(w.type.isin(list(spec.types)), w.type, ibis.literal("other_").concat(w.channel))
    bucket = sum((w.age >= e * DAY_US).cast("int8") for e in edges[:-1])
    counts = w.group_by(contact_id=w.contact_id, kind=kind, bucket=bucket).aggregate(
        n=w.count(), last_age=w.age.min()
    )
    tw = w.filter((w.age < spec.long_window * DAY_US) & w.topic.isin(list(spec.topics) or [""]))
    topics = tw.group_by(["contact_id", "topic"]).aggregate(n=tw.count())
    return counts, topics


@dataclass(frozen=True)
class People:
    """Every contact with its account and the traits features use, and the ids as Arrow
    (for fast lookups of engine results)."""

    frame: pd.DataFrame  # contact_id, account_id, role, org_level, industry, employees
    ids: pa.Array
    positions: ir.Table  # (contact_id, pos): row of each contact in ``frame``


def people(tables: Tables) -> People:
    """Every contact with its account and the traits features use (role, level, industry, size)."""
    c = tables.contacts
    a = tables.accounts.select("account_id", "industry", "employees")
    j = c.left_join(a, c.account_id == a.account_id).select(
        c.contact_id, c.account_id, c.role, c.org_level, a.industry, a.employees
    )
    table = j.to_pyarrow()
    df = table.to_pandas()
    for col in ("contact_id", "account_id", "role", "org_level", "industry"):
        df[col] = df[col].astype(object)
    df["employees"] = df["employees"].astype("float64")
    ids = table.column("contact_id").combine_chunks()
    return People(df.reset_index(drop=True), ids, positions_table(ids))


def _counts(counts: pa.Table, n: int, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Per-contact window counts per listed type, other touches per channel, and totals."""
    row = counts.column("pos").to_numpy()
    kind = pc.dictionary_encode(counts.column("kind").combine_chunks())
    codes = kind.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    code_of = {k: i for i, k in enumerate(kind.dictionary.to_pylist())}
    bucket = counts.column("bucket").to_numpy().astype(np.int64)
    num = counts.column("n").to_numpy().astype(np.float64)
    edges = _edges(spec)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(code_of) + 1))

    def totals(code: int | None, days: list[int]) -> list[np.ndarray]:
        sel = order[bounds[code]:bounds[code + 1]] if code is not None else slice(None)
        r, b, x = row[sel], bucket[sel], num[sel]
        return [np.bincount(r[b <= edges.index(d)], weights=x[b <= edges.index(d)], minlength=n) for d in days]

    w = spec.long_window
    zero = np.zeros(n)
    out: dict[str, np.ndarray] = {}
    for ty in spec.types:
        code = code_of.get(ty)
        found = totals(code, list(spec.windows)) if code is not None else [zero] * len(spec.windows)
        out.update({f"{ty}_{d}d": v for d, v in zip(spec.windows, found, strict=True)})
    for c in spec.channels:
        code = code_of.get(f"other_{c}")
        out[f"other_{c}_{w}d"] = totals(code, [w])[0] if code is not None else zero
    days = sorted({30, 60, w})
    out.update({f"n{d}": v for d, v in zip(days, totals(None, days), strict=True)})
    horizon = float(recency_cap(spec))
    last = np.full(n, horizon)
    np.minimum.at(last, row, counts.column("last_age").to_numpy() / DAY_US)
    out["days_since_last"] = np.minimum(last, horizon)
    return out


def _group(frame: pd.DataFrame, active: np.ndarray, touches: np.ndarray, w: int) -> pd.DataFrame:
    """Buying-group features per account, from each member's activity in the long window."""
    df = pd.DataFrame({
        "account_id": frame["account_id"],
        "active": active,
        "dm": active & frame["role"].isin(DECISION_ROLES).to_numpy(),
        "act_role": frame["role"].where(active),
        "act_level": frame["org_level"].where(active),
        "touches": touches,
    })
    g = df[df["account_id"].notna()].groupby("account_id", sort=False)
    return pd.DataFrame(
        {
            f"group_active_{w}d": g["active"].sum(),
            f"group_roles_{w}d": g["act_role"].nunique(),
            f"group_levels_{w}d": g["act_level"].nunique(),
            f"group_decision_maker_{w}d": g["dm"].max().astype("int64"),
            f"group_touches_{w}d": g["touches"].sum(),
        }
    )


def _topics(topics: pa.Table, n: int, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Per-contact touches on each listed topic in the long window."""
    row = topics.column("pos").to_numpy()
    topic = pc.index_in(topics.column("topic"), value_set=pa.array(list(spec.topics), pa.string()))
    code = topic.fill_null(-1).to_numpy().astype(np.int64)
    num = topics.column("n").to_numpy().astype(np.float64)
    out = {}
    for k, t in enumerate(spec.topics):
        m = code == k
        out[f"topic_{slug(t)}_{spec.long_window}d"] = np.bincount(row[m], weights=num[m], minlength=n)
    return out


def _mixes(cols: dict[str, np.ndarray], spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Velocity, channels used and topics read, from the counts."""
    w = spec.long_window
    by_channel: dict[str, list[str]] = {c: [f"other_{c}_{w}d"] for c in spec.channels}
    for ty in spec.types:
        by_channel.setdefault(STANDARD_EVENTS.get(ty, ("other", ""))[0], []).append(f"{ty}_{w}d")
    used = [sum(cols[k] for k in keys) > 0 for c, keys in by_channel.items() if c in spec.channels]
    topic_cols = [cols[f"topic_{slug(t)}_{w}d"] for t in spec.topics]
    n = len(cols[f"n{w}"])
    return {
        "velocity": np.log((cols["n30"] + 1.0) / (cols["n60"] - cols["n30"] + 1.0)),
        f"channels_{w}d": np.sum(used, axis=0).astype("float64") if used else np.zeros(n),
        f"topics_{w}d": np.sum([c > 0 for c in topic_cols], axis=0).astype("float64") if topic_cols else np.zeros(n),
    }


def features_at(
    tables: Tables, cutoff: datetime, spec: FeatureSpec, who: People | None = None,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Contacts' features as of ``cutoff`` (contacts without touches get zeros): all of
    ``who`` (``people(tables)``), or the ``rows`` of it given, in that order. The
    buying-group features always count every colleague.

    Counts are kept as arrays over every contact; the frame is built for the rows only.
    """
    who = people(tables) if who is None else who
    n = len(who.frame)
    counts, topics = (with_positions(x, who.positions).to_pyarrow() for x in activity(tables, cutoff, spec))
    w = spec.long_window
    cols = _counts(counts, n, spec)
    cols.update(_topics(topics, n, spec))
    cols.update(_mixes(cols, spec))
    frame = who.frame
    grp = _group(frame, cols[f"n{w}"] > 0, cols[f"n{w}"], w)
    sel = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    df = frame.iloc[sel].reset_index(drop=True)
    data = {name: cols[name][sel] for name in spec.numeric() if name in cols}
    g = grp.reindex(df["account_id"])
    for c in grp.columns:
        data[c] = g[c].fillna(0).to_numpy(dtype=np.float64)
    data["log_employees"] = np.nan_to_num(np.log1p(df["employees"].clip(lower=0).to_numpy()), nan=0.0)
    industry = df["industry"].str.lower()
    data["role"] = df["role"].fillna(UNKNOWN).to_numpy(dtype=object)
    data["org_level"] = df["org_level"].fillna(UNKNOWN).to_numpy(dtype=object)
    data["industry"] = np.where(industry.isin(spec.industries), industry,
                                np.where(industry.isna(), UNKNOWN, OTHER)).astype(object)
    out = pd.DataFrame({"contact_id": df["contact_id"].to_numpy(dtype=object),
                        "account_id": df["account_id"].to_numpy(dtype=object),
                        "employees": df["employees"].to_numpy(dtype=np.float64)})
    features = pd.DataFrame(data)[spec.names()]
    for c in CATEGORICAL:
        features[c] = features[c].astype(object)
    return pd.concat([out, features], axis=1)


def contact_ranks(stages: ir.Table, who: People) -> pd.DataFrame:
    """The contacts' stage moves as (pos, rank, ts_us), for as-of lookups."""
    s = stages.filter(stages.subject == "contact")
    t = s.select(
        contact_id=s.subject_id,
        rank=s.stage.substitute(STAGE_RANK, else_=-1),
        ts_us=epoch_us(s.ts),
    )
    return with_positions(t, who.positions).to_pyarrow().to_pandas()


def population_and_labels(
    moves: pd.DataFrame, n: int, cutoff: datetime, *, horizon_days: float, target_rank: int
) -> pd.DataFrame:
    """The rows (``pos``) of contacts identified and below the target stage just before
    ``cutoff``, labelled 1 if they reach the target stage within the horizon."""
    at = epoch_us_of(cutoff)
    end = at + int(horizon_days * DAY_US)
    pos, rank, ts = (moves[c].to_numpy() for c in ("pos", "rank", "ts_us"))
    best = np.full(n, -1, dtype=np.int64)
    before = ts < at
    np.maximum.at(best, pos[before], rank[before])
    pop = np.flatnonzero((best >= STAGE_RANK["suspect"]) & (best < target_rank))
    reached = np.zeros(n, dtype=bool)
    reached[pos[(ts >= at) & (ts < end) & (rank >= target_rank)]] = True
    return pd.DataFrame({"pos": pop, "label": reached[pop].astype(np.int64)})
