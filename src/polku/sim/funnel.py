"""The opportunity decision (the true logistic model), the sales process and customers' lives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polku.sim.events import KIND_WEB, Clock, EventBuffer, EventColumns
from polku.sim.journeys import email_chain, survey_answers
from polku.sim.params import SimParams
from polku.sim.people import OPERATIONAL, USER, Accounts, Contacts
from polku.sim.vocab import (
    CAMPAIGNS,
    CHANNEL_CODE,
    DURATIONS,
    FEATURES,
    MEETING_KINDS,
    PORTAL_PATHS,
    SENSORS,
    TICKET_CATEGORIES,
    TICKET_PRIORITIES,
    TICKET_RESOLUTIONS,
    TOPIC_PRODUCT,
    TYPE_CODE,
    PropVocab,
    to_json,
)

_SECOND = 1.0 / 86_400.0
_GRAN_CRM = 60.0


@dataclass(frozen=True)
class Decision:
    """Per contact: touches counted in the nurture window and the drawn outcome."""

    channels: tuple[str, ...]
    touches: np.ndarray  # [contact, channel] counts in [window_start, window_end)
    window_start: np.ndarray  # µs, NEVER if not a prospect
    window_end: np.ndarray  # µs
    complete: np.ndarray  # window ended inside the world: the decision was taken
    probability: np.ndarray  # true P(opportunity)
    converted: np.ndarray


def decide(
    rng: np.random.Generator, cols: EventColumns, c: Contacts, clock: Clock, params: SimParams
) -> Decision:
    """Count each prospect's touches per channel in its window and draw the logistic outcome."""
    channels, beta = params.effect_vector()
    column = np.full(len(CHANNEL_CODE), -1, dtype=np.int64)
    for j, ch in enumerate(channels):
        column[CHANNEL_CODE[ch]] = j
    start = clock.to_us_or_never(c.t_p)
    end = clock.to_us_or_never(c.t_d, _GRAN_CRM)
    who = cols.contact
    col = column[cols.channel]
    in_window = (cols.ts >= start[who]) & (cols.ts < end[who])
    m = (col >= 0) & (cols.type != TYPE_CODE["identify"]) & in_window
    n, k = len(c), len(channels)
    touches = np.bincount(who[m] * k + col[m], minlength=n * k).reshape(n, k)
    complete = (start < clock.end_us) & (end < clock.end_us)
    score = params.opportunity_intercept + touches @ np.asarray(beta)
    probability = 0.5 * (1.0 + np.tanh(0.5 * score))  # the logistic function, overflow-free
    converted = complete & (rng.random(n) < probability)
    return Decision(channels, touches, start, end, complete, probability, converted)


@dataclass(frozen=True)
class Sales:
    """Outcome of each opportunity: won, and when the first order was placed (days)."""

    won: np.ndarray
    t_order: np.ndarray  # inf when not won inside the world


def sales(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, acc: Accounts, dec: Decision, params: SimParams
) -> Sales:
    """Lead qualification, sales acceptance, meetings, quotes and won orders."""
    rng = buf.rng
    n = len(c)
    s = buf.clock.scale
    prospect = np.isfinite(c.t_p)
    conv = dec.converted
    lead = conv | (prospect & ~conv & (rng.random(n) < params.p_lead_without_opportunity))
    who = np.flatnonzero(lead)
    frac = rng.uniform(0.3, 0.95, len(who))
    t_lead = c.t_p[who] + frac * (c.t_d[who] - c.t_p[who])
    score = np.where(conv[who], rng.integers(70, 101, len(who)), rng.integers(50, 91, len(who)))
    buf.add(who, t_lead, "lead_qualified", prop=vocab.lead_score[score - 40])

    who = np.flatnonzero(conv)
    t_d = c.t_d[who]
    a = c.account[who]
    buf.add(who, t_d, "sales_accepted", prop=vocab.owner[acc.owner[a]])
    k = 1 + rng.poisson(1.2, len(who))
    rows = np.repeat(np.arange(len(who)), k)
    kind = rng.choice([1, 2], size=len(rows), p=[0.5, 0.5])  # demo, negotiation
    dur = rng.choice(len(DURATIONS), size=len(rows), p=[0.0, 0.2, 0.3, 0.4, 0.1])
    buf.add(who[rows], t_d[rows] + rng.uniform(1.0, 40.0, len(rows)) * s, "meeting_held",
            prop=vocab.meeting[kind, dur], office=True)
    k = rng.poisson(1.5, len(who))
    rows = np.repeat(np.arange(len(who)), k)
    outbound = (rng.random(len(rows)) < 0.6).astype(np.int64)
    buf.add(who[rows], t_d[rows] + rng.uniform(0.5, 45.0, len(rows)) * s, "call_held",
            prop=vocab.call[outbound, rng.integers(0, 4, len(rows))], office=True)
    product = TOPIC_PRODUCT[c.topic[who]]
    quoted = rng.random(len(who)) < 0.85
    t_q = t_d + rng.uniform(3.0, 30.0, len(who)) * s
    priced = rng.random(len(who)) < 0.7
    quote = np.round(acc.deal_size[a] * rng.uniform(0.9, 1.3, len(who)), -1)
    value = np.where(priced, quote, np.nan)
    buf.add(who[quoted], t_q[quoted], "quote_requested", device=0, kind=KIND_WEB,
            topic=c.topic[who[quoted]], value=value[quoted], prop=vocab.quote[product[quoted]])
    proposal = np.full(int(quoted.sum()), CAMPAIGNS.index("proposal"))
    email_chain(buf, vocab, c, who[quoted], t_q[quoted] + 1.0, proposal,
                p_open=0.9, p_click=0.5, skew=0.0)

    won_rows = rng.random(len(who)) < params.p_win
    t_o = buf.clock.office(t_d + rng.uniform(14.0, 75.0, len(who)) * s, rng)
    amount = np.round(acc.deal_size[a] * rng.uniform(0.8, 1.0, len(who)), -1)
    buf.add(who[won_rows], t_o[won_rows], "order_placed", value=amount[won_rows],
            prop=vocab.order[0, product[won_rows]])
    won = np.zeros(n, dtype=bool)
    won[who[won_rows]] = True
    t_order = np.full(n, np.inf)
    placed = who[won_rows]
    ok = buf.clock.to_us(t_o[won_rows], _GRAN_CRM) < buf.clock.end_us
    t_order[placed[ok]] = t_o[won_rows][ok]
    return Sales(won, t_order)


@dataclass(frozen=True)
class Customers:
    """Who became a customer contact, and since when (days; inf if never)."""

    t_customer: np.ndarray
    onboarded: np.ndarray
    account_since: np.ndarray  # per account: first order (inf: not a customer)


def onboard(
    rng: np.random.Generator, c: Contacts, n_accounts: int, sale: Sales, dec: Decision,
    clock: Clock, params: SimParams,
) -> Customers:
    """Buyers become customers; some identified colleagues are onboarded as users."""
    d = float(clock.days)
    since = np.full(n_accounts, np.inf)
    buyers = np.flatnonzero(np.isfinite(sale.t_order))
    np.minimum.at(since, c.account[buyers], sale.t_order[buyers])
    t_onb = since[c.account] + rng.uniform(2.0, 30.0, len(c)) * clock.scale
    t_onb_us = clock.to_us_or_never(t_onb)
    users = (c.level == OPERATIONAL) | (c.role == USER)
    p = np.clip(params.p_onboard * np.where(users, 1.3, 0.8), 0.0, 1.0)
    candidate = (
        np.isfinite(since[c.account])
        & ~np.isfinite(sale.t_order)
        & (c.t_id < t_onb)
        & (t_onb < d)
        & (~np.isfinite(c.t_p) | (dec.window_end <= t_onb_us))
    )
    onboarded = candidate & (rng.random(len(c)) < p)
    t_customer = np.where(
        np.isfinite(sale.t_order), sale.t_order, np.where(onboarded, t_onb, np.inf)
    )
    return Customers(t_customer, onboarded, since)


def customer_life(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, acc: Accounts, cust: Customers, sale: Sales,
    params: SimParams, block: int,
) -> None:
    """Onboarding, portal use, service tickets, surveys, repeat orders and renewals."""
    rng = buf.rng
    d = float(buf.clock.days)
    s = buf.clock.scale
    who = np.flatnonzero(cust.t_customer < d)
    start = cust.t_customer[who]
    span = d - start
    sat = acc.satisfaction[c.account[who]]
    eng = c.engagement[who]
    operational = c.level[who] == OPERATIONAL

    onb = cust.onboarded[who]
    buf.add(who[onb], start[onb], "meeting_held",
            prop=vocab.meeting[MEETING_KINDS.index("onboarding"), 3], office=True)
    email_chain(buf, vocab, c, who, start + 0.1, np.full(len(who), CAMPAIGNS.index("onboarding")),
                p_open=0.8, p_click=0.4, skew=0.0)

    # portal sessions: a login then a few portal pages
    k = rng.poisson(eng * np.where(operational, 1.5, 1.0) * span / 30.0) + 1
    rows = np.repeat(np.arange(len(who)), k)
    first = np.cumsum(k) - k
    t = start[rows] + rng.random(len(rows)) * span[rows]
    t[first] = start + rng.uniform(0.01, 3.0, len(who))
    method = (rng.random(len(rows)) < 0.3).astype(np.int64)
    buf.add(who[rows], t, "portal_login", prop=vocab.portal_login[method])
    pages = rng.poisson(1.5, len(rows))
    prow = np.repeat(np.arange(len(rows)), pages)
    buf.add(who[rows][prow], t[prow] + rng.uniform(5, 600, len(prow)) * _SECOND, "page_view",
            channel="portal", prop=vocab.portal_page[rng.integers(0, len(PORTAL_PATHS), len(prow))])

    # service tickets, then CSAT / CES surveys after closing
    k = rng.poisson(0.5 * np.exp(-0.3 * sat) * span / 30.0)
    rows = np.repeat(np.arange(len(who)), k)
    t_open = buf.clock.office(start[rows] + rng.random(len(rows)) * span[rows], rng)
    cat = rng.choice(len(TICKET_CATEGORIES), size=len(rows), p=[0.15, 0.35, 0.1, 0.2, 0.2])
    prio = rng.choice(len(TICKET_PRIORITIES), size=len(rows), p=[0.25, 0.5, 0.2, 0.05])
    res = rng.choice(len(TICKET_RESOLUTIONS), size=len(rows), p=[0.7, 0.2, 0.1])
    opened, closed = _ticket_props(buf, block, prio, cat, res)
    buf.add(who[rows], t_open, "ticket_opened", prop=opened)
    hours = np.round(np.exp(rng.normal(np.log(20.0) - 0.4 * prio, 0.9)), 1)
    t_close = t_open + hours / 24.0
    skewed = rng.random(len(rows)) < params.ticket_clock_skew_fraction
    t_close[skewed] = t_open[skewed] - rng.uniform(1, 120, int(skewed.sum())) * _SECOND
    buf.add(who[rows], t_close, "ticket_closed", value=hours, prop=closed)
    for survey, p in (("csat", 0.3), ("ces", 0.15)):
        m = rng.random(len(rows)) < p
        t_answer = t_close[m] + rng.uniform(0.05, 3.0, int(m.sum()))
        survey_answers(buf, vocab, c, who[rows][m], t_answer, survey, sat[rows][m])

    # quarterly NPS invitations
    k = np.where(span > 30 * s, np.floor((span - 30 * s) / (90 * s)).astype(np.int64) + 1, 0)
    rows = np.repeat(np.arange(len(who)), k)
    nth = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
    t_inv = start[rows] + (30 + 90 * nth) * s + rng.uniform(0, 3, len(rows))
    buf.add(who[rows], t_inv, "email_sent", prop=vocab.campaign[CAMPAIGNS.index("nps-survey")])
    m = rng.random(len(rows)) < 0.45
    t_answer = t_inv[m] + rng.uniform(0.05, 5.0, int(m.sum()))
    survey_answers(buf, vocab, c, who[rows][m], t_answer, "nps", sat[rows][m])

    # business reviews with the account team
    k = rng.poisson(span / 120.0)
    rows = np.repeat(np.arange(len(who)), k)
    buf.add(who[rows], start[rows] + rng.random(len(rows)) * span[rows], "meeting_held",
            prop=vocab.meeting[MEETING_KINDS.index("business_review"), 3], office=True)

    # the buyer's repeat orders and the account's renewal
    buyer = np.flatnonzero(np.isfinite(sale.t_order) & (sale.t_order < d))
    b_start = sale.t_order[buyer] + 20.0 * s
    b_span = np.clip(d - b_start, 0.0, None)
    a = c.account[buyer]
    k = rng.poisson(params.repeat_orders_per_year * b_span / 365.0)
    rows = np.repeat(np.arange(len(buyer)), k)
    amount = np.round(acc.deal_size[a[rows]] * rng.uniform(0.05, 0.3, len(rows)), -1)
    product = rng.integers(0, vocab.order.shape[1], len(rows))
    t_repeat = b_start[rows] + rng.random(len(rows)) * b_span[rows]
    buf.add(buyer[rows], t_repeat, "order_placed", value=amount, prop=vocab.order[1, product],
            office=True)
    first_buyer = buyer[sale.t_order[buyer] == cust.account_since[a]]
    renew = rng.random(len(first_buyer)) < params.p_renewal
    rb = first_buyer[renew]
    t_r = buf.clock.office(sale.t_order[rb] + rng.uniform(90.0, 250.0, len(rb)) * s, rng)
    value = np.round(acc.deal_size[c.account[rb]] * rng.uniform(0.2, 0.4, len(rb)), -1)
    term = rng.integers(0, 3, len(rb))
    buf.add(rb, t_r, "contract_renewed", value=value, prop=vocab.renewal[term])


def _ticket_props(
    buf: EventBuffer, block: int, prio: np.ndarray, cat: np.ndarray, res: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Properties of each ticket's opening and closing, sharing a ticket id."""
    opened, closed = [], []
    for k, (p, c, r) in enumerate(zip(prio.tolist(), cat.tolist(), res.tolist(), strict=True)):
        ticket = f"TK-{block:04d}-{k + 1:06d}"
        category = TICKET_CATEGORIES[c]
        priority, resolution = TICKET_PRIORITIES[p], TICKET_RESOLUTIONS[r]
        opened.append(to_json({"ticket": ticket, "priority": priority, "category": category}))
        closed.append(to_json({"ticket": ticket, "category": category, "resolution": resolution}))
    return buf.intern(opened), buf.intern(closed)


def product_data(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, acc: Accounts, cust: Customers, budget: int
) -> None:
    """Bulk product usage (by customer users) and hourly sensor readings (per account)."""
    rng = buf.rng
    d = float(buf.clock.days)
    who = np.flatnonzero(cust.t_customer < d)
    if budget <= 0 or len(who) == 0:
        return
    start = cust.t_customer[who]
    span = d - start
    users = (c.level[who] == OPERATIONAL) | (c.role[who] == USER)
    weight = span * c.engagement[who] * np.where(users, 2.0, 1.0)
    counts = rng.multinomial(int(budget * 0.45), weight / weight.sum())
    rows = np.repeat(np.arange(len(who)), counts)
    t = buf.clock.office(start[rows] + rng.random(len(rows)) * span[rows], rng)
    favourite = rng.integers(0, len(FEATURES), len(who))
    other = rng.integers(0, len(FEATURES), len(rows))
    feature = np.where(rng.random(len(rows)) < 0.5, favourite[rows], other)
    hours = np.round(rng.gamma(2.0, 0.8, len(rows)), 2)
    buf.add(who[rows], t, "product_usage", value=hours, prop=vocab.usage[feature])

    # sensor readings: each customer account's installed devices report to one contact
    order = np.lexsort((start, -users.astype(np.int64), c.account[who]))
    acc_sorted = c.account[who][order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = acc_sorted[1:] != acc_sorted[:-1]
    reporter = who[order][head]
    a = c.account[reporter]
    since = np.maximum(cust.account_since[a] + 1.0, cust.t_customer[reporter])
    a_span = np.clip(d - since, 0.0, None)
    if a_span.sum() <= 0:
        return
    counts = rng.multinomial(budget - int(budget * 0.45), a_span / a_span.sum())
    rows = np.repeat(np.arange(len(reporter)), counts)
    t = since[rows] + rng.random(len(rows)) * a_span[rows]
    kind = acc.sensor[a[rows]]
    level = np.array([x[2] for x in SENSORS])[kind]
    noise = np.array([x[3] for x in SENSORS])[kind]
    wear = 1.0 - 0.05 * acc.satisfaction[a[rows]]  # unhappy accounts run worn machines
    reading = level * wear + rng.normal(0.0, 1.0, len(rows)) * noise
    spike = rng.random(len(rows)) < 0.005
    reading[spike] += 6.0 * noise[spike]
    buf.add(reporter[rows], t, "sensor_reading", value=np.round(reading, 2),
            prop=vocab.sensor[kind])


def crm_knowledge(rng: np.random.Generator, stage: np.ndarray, p_crm_known: float) -> np.ndarray:
    """Which identified contacts the CRM knows: every lead and beyond, then a random share."""
    identified = stage >= 1
    forced = stage >= 3
    rest = identified & ~forced
    need = p_crm_known * identified.sum() - forced.sum()
    p = float(np.clip(need / max(int(rest.sum()), 1), 0.0, 1.0))
    return forced | (rest & (rng.random(len(stage)) < p))

