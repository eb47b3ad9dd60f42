"""Turn generated codes into Arrow tables: identity columns, strings, event ids, ts order."""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from polku.model import EVENT_COLUMNS
from polku.sim import words as W
from polku.sim.events import KIND_IDENTIFY, KIND_PERSON, KIND_WEB, Clock, EventColumns
from polku.sim.ids import event_ids
from polku.sim.journeys import SharedDevices
from polku.sim.people import LEVELS, ROLES, Accounts, Contacts
from polku.sim.vocab import CHANNEL_CODE, CHANNEL_LIST, TOPICS, TYPES, prop_vocab

EVENT_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("anonymous_id", pa.string()),
        pa.field("email", pa.string()),
        pa.field("crm_id", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("topic", pa.string()),
        pa.field("value", pa.float64()),
        pa.field("properties", pa.string(), nullable=False),
    ]
)
assert tuple(EVENT_SCHEMA.names) == EVENT_COLUMNS

ACCOUNT_SCHEMA: pa.Schema = pa.schema(
    [
        ("account_id", pa.string()),
        ("name", pa.string()),
        ("domain", pa.string()),
        ("industry", pa.string()),
        ("employees", pa.int64()),
        ("country", pa.string()),
        ("owner", pa.string()),
    ]
)
CONTACT_SCHEMA: pa.Schema = pa.schema(
    [
        ("crm_id", pa.string()),
        ("email", pa.string()),
        ("name", pa.string()),
        ("title", pa.string()),
        ("role", pa.string()),
        ("org_level", pa.string()),
        ("account_id", pa.string()),
        ("language", pa.string()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)

# Channels whose records come from the CRM or our own systems, so they carry the CRM id;
# and how often such a record lacks the e-mail address (identified by CRM id alone).
_CRM_CHANNELS = ("crm", "meeting", "phone", "service", "product", "portal")
_CARRIES_CRM = np.zeros(len(CHANNEL_LIST), dtype=bool)
_CARRIES_CRM[[CHANNEL_CODE[c] for c in _CRM_CHANNELS]] = True
_NO_EMAIL_P = np.zeros(len(CHANNEL_LIST))
_NO_EMAIL_BY_CHANNEL = {
    "crm": 0.4, "meeting": 0.3, "phone": 0.3, "service": 0.2, "product": 0.5, "portal": 0.1,
}
for _c, _p in _NO_EMAIL_BY_CHANNEL.items():
    _NO_EMAIL_P[CHANNEL_CODE[_c]] = _p
_ANON_DROPPED_P = 0.1  # identified web events sent server-side, without the cookie


@cache
def _static_strings() -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """Arrow arrays of the fixed vocabularies (types, channels, topics, properties)."""
    return (
        pa.array(TYPES, pa.string()),
        pa.array(CHANNEL_LIST, pa.string()),
        pa.array(TOPICS, pa.string()),
        pa.array(prop_vocab().strings, pa.string()),
    )


def _take(values: pa.Array, index: np.ndarray, present: np.ndarray | None = None) -> pa.Array:
    """values[index], null where present is False."""
    mask = None if present is None else ~present
    return values.take(pa.array(index, type=pa.int64(), mask=mask))


def events_table(
    rng: np.random.Generator, cols: EventColumns, c: Contacts, acc: Accounts, clock: Clock,
    crm_known: np.ndarray, extra_props: list[str], seed: int, block: int,
    shared: SharedDevices | None = None,
) -> pa.Table:
    """The block's events as a ts-sorted table with EVENT_SCHEMA and unique event ids.

    `shared` adds the shared-device identify calls: a colleague's e-mail (and CRM id,
    when the CRM knows them) on another contact's cookie.
    """
    order = np.argsort(cols.ts, kind="stable")
    who = cols.contact[order]
    ts = cols.ts[order]
    device = cols.device[order].astype(np.int64)
    kind = cols.kind[order]
    chan = cols.channel[order]
    n = len(ts)

    tid = clock.to_us_or_never(c.t_id)
    tidb = clock.to_us_or_never(c.t_idb)
    web = kind == KIND_WEB
    identified_device = ((device == 0) & (ts >= tid[who])) | ((device == 1) & (ts >= tidb[who]))
    known = crm_known[who]
    has_crm = known & ((kind == KIND_IDENTIFY) | ((kind == KIND_PERSON) & _CARRIES_CRM[chan]))
    no_email = (kind == KIND_PERSON) & has_crm & (rng.random(n) < _NO_EMAIL_P[chan])
    has_email = np.where(web, identified_device, ~no_email)
    server_side = identified_device & (rng.random(n) < _ANON_DROPPED_P)
    has_anon = (kind == KIND_IDENTIFY) | (web & ~server_side)
    account_known = (crm_known | c.freemail)[who]
    has_account = account_known & np.where(web, identified_device, True)

    types, channels, topics, static_props = _static_strings()
    props = pa.concat_arrays([static_props, pa.array(extra_props, pa.string())])
    topic = cols.topic[order].astype(np.int64)
    value = cols.value[order]
    arrays = [
        pa.nulls(n, pa.string()),  # event ids are numbered once the shared devices are in
        pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        _take(types, cols.type[order].astype(np.int64)),
        _take(channels, chan.astype(np.int64)),
        _take(pa.array(c.anonymous_id, pa.string()), 2 * who + np.maximum(device, 0), has_anon),
        _take(pa.array(c.email, pa.string()), who, has_email),
        _take(pa.array(c.crm_id, pa.string()), who, has_crm),
        _take(pa.array(acc.account_id, pa.string()), c.account[who], has_account),
        _take(topics, np.maximum(topic, 0), topic >= 0),
        pa.array(value, type=pa.float64(), mask=np.isnan(value)),
        _take(props, cols.prop[order].astype(np.int64)),
    ]
    table = pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
    if shared is not None and len(shared):
        extra = _shared_table(shared, c, acc, crm_known, props, types, channels)
        table = pa.concat_tables([table, extra])
        ts = np.concatenate([ts, shared.ts])
        table = table.take(pa.array(np.argsort(ts, kind="stable")))
    return table.set_column(0, EVENT_SCHEMA.field(0), event_ids(seed, block, table.num_rows))


def _shared_table(
    shared: SharedDevices, c: Contacts, acc: Accounts, crm_known: np.ndarray, props: pa.Array,
    types: pa.Array, channels: pa.Array,
) -> pa.Table:
    """The shared-device identify calls (web): the owner's cookie, the colleague's identity."""
    order = np.argsort(shared.ts, kind="stable")
    owner, who, ts = shared.owner[order], shared.colleague[order], shared.ts[order]
    n = len(ts)
    account_known = (crm_known | c.freemail)[who]
    arrays = [
        pa.nulls(n, pa.string()),
        pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        _take(types, np.full(n, TYPES.index("identify"), np.int64)),
        _take(channels, np.full(n, CHANNEL_CODE["web"], np.int64)),
        _take(pa.array(c.anonymous_id, pa.string()), 2 * owner),
        _take(pa.array(c.email, pa.string()), who),
        _take(pa.array(c.crm_id, pa.string()), who, crm_known[who]),
        _take(pa.array(acc.account_id, pa.string()), c.account[who], account_known),
        pa.nulls(n, pa.string()),
        pa.nulls(n, pa.float64()),
        _take(props, shared.prop[order].astype(np.int64)),
    ]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def accounts_table(acc: Accounts) -> pa.Table:
    """The accounts as the CRM lists them."""
    return pa.Table.from_arrays(
        [
            pa.array(acc.account_id, pa.string()),
            pa.array(acc.name, pa.string()),
            pa.array(acc.domain, pa.string()),
            pa.array([W.INDUSTRIES[i] for i in acc.industry.tolist()], pa.string()),
            pa.array(acc.employees, pa.int64()),
            pa.array([W.COUNTRIES[i] for i in acc.country.tolist()], pa.string()),
            pa.array([W.OWNERS[i] for i in acc.owner.tolist()], pa.string()),
        ],
        schema=ACCOUNT_SCHEMA,
    )


def contacts_table(c: Contacts, acc: Accounts, crm_known: np.ndarray, events: pa.Table) -> pa.Table:
    """The CRM's contact export: only the contacts the CRM knows, each dated by when it
    was first identified (a CRM record is as old as our knowledge of the person)."""
    idx = np.flatnonzero(crm_known).tolist()
    identifies = events.filter(pc.equal(events["type"], "identify"))
    known_since = dict(
        zip(*identifies.group_by("email").aggregate([("ts", "min")]).select(["email", "ts_min"]).to_pydict().values(),
            strict=True)
    )
    return pa.Table.from_arrays(
        [
            pa.array([c.crm_id[i] for i in idx], pa.string()),
            pa.array([c.email[i] for i in idx], pa.string()),
            pa.array([c.name[i] for i in idx], pa.string()),
            pa.array([c.title[i] for i in idx], pa.string()),
            pa.array([ROLES[c.role[i]] for i in idx], pa.string()),
            pa.array([LEVELS[c.level[i]] for i in idx], pa.string()),
            pa.array([acc.account_id[c.account[i]] for i in idx], pa.string()),
            pa.array([W.LANGUAGES[c.language[i]] for i in idx], pa.string()),
            pa.array([known_since.get(c.email[i]) for i in idx], pa.timestamp("us", tz="UTC")),
        ],
        schema=CONTACT_SCHEMA,
    )
