"""The ground-truth record: what the generator did, in plain JSON-serialisable form.

Keys of World.truth: seed, n_accounts, n_contacts, n_identified, n_crm_contacts,
n_events, events_per_account, start, days, block_size; channel_effects (true log-odds
per touch) with opportunity_intercept and touch_rule; base_rates, purchase_rate,
repeat_orders_per_year, renewal_rate; stage_rule (event types proving each stage) and
stage_counts; stages and devices (by e-mail, including the never-seen addresses of
visitors); anonymous_links ([anonymous_id, email] revealed by the person's own identify
calls); shared_devices (a colleague of the same account identifying on a contact's device:
{anonymous_id, owner, colleague, ts}, each one wrong link for identity resolution to merge
and a user to unmerge; not in anonymous_links); customer_accounts; account_satisfaction
({account_id: the latent satisfaction, a standard normal draw, that drives survey scores,
ticket rates and machine wear}); contacts (one record each, with nurture window and
touches); params.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from polku.model import STAGE_ORDER
from polku.sim.events import KIND_IDENTIFY, NEVER, EventColumns
from polku.sim.funnel import Customers, Decision, Sales
from polku.sim.journeys import SharedDevices
from polku.sim.params import SimParams
from polku.sim.people import LEVELS, ROLES, Accounts, Contacts
from polku.sim.vocab import STAGE_EVIDENCE

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TOUCH_RULE = (
    "P(opportunity) = sigmoid(opportunity_intercept + sum over channels of "
    "channel_effects[channel] * touches[channel]), where touches[channel] counts the "
    "contact's events (any of its identities) in that channel, except type 'identify', "
    "with nurture.start <= ts < nurture.end. Drawn only when the window ends inside the "
    "world (nurture.complete); a converted contact gets 'sales_accepted' at nurture.end."
)


def iso(us: int) -> str:
    """An ISO 8601 UTC text of a microsecond timestamp."""
    return (_EPOCH + timedelta(microseconds=int(us))).isoformat()


def contact_stages(cols: EventColumns, n: int) -> np.ndarray:
    """Each contact's lifecycle rank: the highest stage its own events prove."""
    stage = np.zeros(n, dtype=np.int8)
    np.maximum.at(stage, cols.contact, cols.evidence)
    return stage


def block_truth(
    cols: EventColumns, c: Contacts, acc: Accounts, dec: Decision, sale: Sales, cust: Customers,
    stage: np.ndarray, crm_known: np.ndarray, shared: SharedDevices,
) -> dict[str, Any]:
    """The truth about one block's contacts, identities and customers."""
    used = np.zeros((len(c), 2), dtype=bool)
    dev = cols.device >= 0
    used[cols.contact[dev], cols.device[dev]] = True
    ident = cols.kind == KIND_IDENTIFY
    linked = np.unique(cols.contact[ident] * 2 + cols.device[ident])
    links = [[c.anonymous_id[k], c.email[k // 2]] for k in linked.tolist()]

    contacts = []
    for i in range(len(c)):
        anon = [c.anonymous_id[2 * i + d] for d in (0, 1) if used[i, d]]
        record: dict[str, Any] = {
            "email": c.email[i],
            "account_id": acc.account_id[c.account[i]],
            "crm_id": c.crm_id[i] if crm_known[i] else None,
            "name": c.name[i],
            "role": ROLES[c.role[i]],
            "org_level": LEVELS[c.level[i]],
            "stage": STAGE_ORDER[stage[i]],
            "devices": len(anon),
            "anonymous_ids": anon,
            "freemail": bool(c.freemail[i]),
            "nurture": None,
            "won": bool(np.isfinite(sale.t_order[i])),
            "onboarded": bool(cust.onboarded[i]),
        }
        if dec.window_start[i] != NEVER and dec.window_start[i] < dec.window_end[i]:
            record["nurture"] = {
                "start": iso(dec.window_start[i]),
                "end": iso(dec.window_end[i]),
                "complete": bool(dec.complete[i]),
                "touches": dict(zip(dec.channels, dec.touches[i].tolist(), strict=True)),
                "p_opportunity": round(float(dec.probability[i]), 6),
                "converted": bool(dec.converted[i]),
            }
        contacts.append(record)
    customers = np.flatnonzero(np.isfinite(cust.account_since)).tolist()
    order = np.argsort(shared.ts, kind="stable")
    shared_devices = [
        {
            "anonymous_id": c.anonymous_id[2 * o],
            "owner": c.email[o],
            "colleague": c.email[k],
            "ts": iso(t),
        }
        for o, k, t in zip(
            shared.owner[order].tolist(), shared.colleague[order].tolist(), shared.ts[order].tolist(),
            strict=True,
        )
    ]
    return {
        "contacts": contacts,
        "anonymous_links": links,
        "shared_devices": shared_devices,
        "customer_accounts": [acc.account_id[a] for a in customers],
        "account_satisfaction": {
            acc.account_id[a]: round(float(acc.satisfaction[a]), 6) for a in range(len(acc))
        },
    }


def world_truth(
    parts: list[dict[str, Any]], *, seed: int, n_accounts: int, events_per_account: int,
    start: datetime, days: int, params: SimParams, n_events: int,
) -> dict[str, Any]:
    """Merge block truths and add the world's parameters and sizes."""
    contacts = [r for p in parts for r in p["contacts"]]
    counts = dict.fromkeys(STAGE_ORDER, 0)
    for r in contacts:
        counts[r["stage"]] += 1
    return {
        "seed": seed,
        "n_accounts": n_accounts,
        "n_contacts": len(contacts),
        "n_identified": sum(r["stage"] != "visitor" for r in contacts),
        "n_crm_contacts": sum(r["crm_id"] is not None for r in contacts),
        "n_events": n_events,
        "events_per_account": events_per_account,
        "start": start.isoformat(),
        "days": days,
        "block_size": params.block_size,
        "channel_effects": dict(params.channel_effects),
        "opportunity_intercept": params.opportunity_intercept,
        "touch_rule": TOUCH_RULE,
        "base_rates": {
            "identify": params.p_identify,
            "second_device": params.p_second_device,
            "shared_device": params.p_shared_device,
            "freemail": params.p_freemail,
            "crm_known": params.p_crm_known,
            "prospect": params.p_prospect,
            "lead_without_opportunity": params.p_lead_without_opportunity,
            "onboard": params.p_onboard,
        },
        "purchase_rate": params.p_win,
        "repeat_orders_per_year": params.repeat_orders_per_year,
        "renewal_rate": params.p_renewal,
        "stage_rule": {k: list(v) for k, v in STAGE_EVIDENCE.items()},
        "stage_counts": counts,
        "stages": {r["email"]: r["stage"] for r in contacts},
        "devices": {r["email"]: r["devices"] for r in contacts},
        "anonymous_links": [link for p in parts for link in p["anonymous_links"]],
        "shared_devices": [s for p in parts for s in p["shared_devices"]],
        "customer_accounts": [a for p in parts for a in p["customer_accounts"]],
        "account_satisfaction": {k: v for p in parts for k, v in p["account_satisfaction"].items()},
        "contacts": contacts,
        "params": params.to_dict(),
    }
