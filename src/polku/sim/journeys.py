"""Pre-purchase journeys: anonymous browsing, identification, interest and nurture touches.

Everything that can fall inside a prospect's nurture window is emitted here, before the
opportunity decision, so the touches the decision counts are exactly the logged ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polku.model import STAGE_RANK
from polku.sim.events import KIND_IDENTIFY, KIND_PERSON, KIND_WEB, Clock, EventBuffer
from polku.sim.people import Contacts
from polku.sim.vocab import (
    CAMPAIGN_PATH,
    CHANNEL_CODE,
    CAMPAIGN_TOPIC,
    DURATIONS,
    FAIRS,
    FORMS,
    GENERAL_PATH_W,
    NURTURE_CAMPAIGN0,
    PAGE_TOPIC,
    PRICING_PATH,
    REFERRERS,
    SOCIAL_ACTIONS,
    SOCIAL_NETWORKS,
    SOLUTION_PATH,
    TOPIC_PRODUCT,
    TOPICS,
    PropVocab,
)

_SECOND = 1.0 / 86_400.0
_MEAN_EXTRA_PAGES = 1.3
_PROSPECT = STAGE_RANK["prospect"]
# survey -> (lowest, highest, typical score, spread)
_SURVEY_SCALE = {"nps": (0, 10, 7.6, 1.9), "csat": (1, 5, 3.9, 0.9), "ces": (1, 7, 5.2, 1.3)}


def _spread(
    rng: np.random.Generator, who: np.ndarray, lo: np.ndarray, hi: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """counts[i] uniform times in [lo[i], hi[i]) for each row; returns (row, t)."""
    rows = np.repeat(np.arange(len(who)), counts)
    t = lo[rows] + rng.random(len(rows)) * (hi[rows] - lo[rows])
    return rows, t


def _device(rng: np.random.Generator, c: Contacts, who: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Which device a known contact uses: sometimes the second one, once it is identified."""
    second = c.second_device[who] & (t >= c.t_idb[who]) & (rng.random(len(who)) < 0.4)
    return second.astype(np.int8)


def web_sessions(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, contact: np.ndarray, device: np.ndarray,
    start: np.ndarray,
) -> None:
    """Browsing sessions (a few page views minutes apart) starting at the given times."""
    rng = buf.rng
    pages = 1 + rng.poisson(_MEAN_EXTRA_PAGES, len(contact))
    first_idx = np.cumsum(pages) - pages
    gaps = rng.exponential(80.0 * _SECOND, int(pages.sum()))
    gaps[first_idx] = 0.0
    cum = np.cumsum(gaps)
    t = np.repeat(start, pages) + cum - np.repeat(cum[first_idx], pages)
    who = np.repeat(contact, pages)
    dev = np.repeat(device, pages)
    n = len(t)
    path = rng.choice(len(GENERAL_PATH_W), size=n, p=GENERAL_PATH_W / GENERAL_PATH_W.sum())
    path = np.where(rng.random(n) < 0.3, SOLUTION_PATH[c.topic[who]], path)
    pricing = c.prospect[who] & (t >= c.t_p[who]) & (rng.random(n) < 0.12)
    path = np.where(pricing, PRICING_PATH[rng.integers(0, len(PRICING_PATH), n)], path)
    first = np.zeros(n, dtype=bool)
    first[first_idx] = True
    ref = np.where(first & (rng.random(n) < 0.4), rng.integers(1, len(REFERRERS) + 1, n), 0)
    buf.add(
        who, t, "page_view", device=dev, kind=KIND_WEB, topic=PAGE_TOPIC[path],
        prop=vocab.page[path, ref], evidence=np.where(pricing, _PROSPECT, 0),
    )


def anonymous_history(buf: EventBuffer, vocab: PropVocab, c: Contacts) -> None:
    """A few sessions on each device before it is identified (or for good, for visitors)."""
    rng = buf.rng
    d = float(buf.clock.days)
    end_a = np.minimum(np.minimum(c.t_id, c.visitor_end), d)
    who_a = np.flatnonzero(c.t0 < d)
    has_b = np.flatnonzero(c.second_device & (c.t0b < d))
    who = np.concatenate([who_a, has_b])
    dev = np.concatenate([np.zeros(len(who_a), np.int8), np.ones(len(has_b), np.int8)])
    lo = np.concatenate([c.t0[who_a], c.t0b[has_b]])
    hi = np.concatenate([end_a[who_a], np.minimum(c.t_idb[has_b], d)])
    counts = 1 + rng.poisson(1.5, len(who))
    rows, t = _spread(rng, who, lo, hi, counts)
    first = np.cumsum(counts) - counts
    t[first] = lo  # the very first visit starts the history
    web_sessions(buf, vocab, c, who[rows], dev[rows], t)


def web_background(buf: EventBuffer, vocab: PropVocab, c: Contacts, budget: int) -> None:
    """About `budget` page views spread over every device's active period."""
    rng = buf.rng
    d = float(buf.clock.days)
    identified = np.isfinite(c.t_id)
    end_a = np.where(identified, d, np.minimum(c.visitor_end, d))
    has_b = np.flatnonzero(c.second_device & (c.t0b < d))
    who = np.concatenate([np.arange(len(c)), has_b])
    dev = np.concatenate([np.zeros(len(c), np.int8), np.ones(len(has_b), np.int8)])
    lo = np.concatenate([c.t0, c.t0b[has_b]])
    hi = np.concatenate([end_a, np.full(len(has_b), d)])
    activity = np.concatenate(
        [np.where(identified, 1.0, 0.6) * c.engagement, 0.6 * c.engagement[has_b]]
    )
    weight = np.clip(hi - lo, 0.0, None) * activity
    if budget <= 0 or weight.sum() <= 0:
        return
    sessions = int(round(budget / (1.0 + _MEAN_EXTRA_PAGES)))
    counts = rng.multinomial(sessions, weight / weight.sum())
    rows, t = _spread(rng, who, lo, hi, counts)
    web_sessions(buf, vocab, c, who[rows], dev[rows], t)


def identify_calls(buf: EventBuffer, vocab: PropVocab, c: Contacts, traits: np.ndarray) -> None:
    """The identify events linking each device's cookie to the person (traits: prop per contact)."""
    rng = buf.rng
    for device, t_all, p_email in ((0, c.t_id, 0.15), (1, c.t_idb, 0.5)):
        who = np.flatnonzero(np.isfinite(t_all))
        t = t_all[who]
        by_email = rng.random(len(who)) < p_email
        chan_code = np.where(by_email, CHANNEL_CODE["email"], CHANNEL_CODE["web"]).astype(np.int8)
        buf.add(
            who, t, "identify", channel=chan_code, device=device, kind=KIND_IDENTIFY,
            prop=traits[who],
        )
        web = ~by_email
        newsletter = rng.random(int(web.sum())) < 0.6
        form = np.where(newsletter, FORMS.index("newsletter"), FORMS.index("contact"))
        buf.add(who[web], t[web], "form_submit", device=device, kind=KIND_WEB,
                prop=vocab.form[form])
        landing = np.flatnonzero(by_email)
        buf.add(
            who[landing], t[landing], "page_view", device=device, kind=KIND_WEB,
            prop=vocab.page[0, 0],
        )


@dataclass(frozen=True)
class SharedDevices:
    """Colleagues who identified on another contact's device (device 0), one per row."""

    owner: np.ndarray  # the contact whose cookie it is
    colleague: np.ndarray  # the identified colleague (same account) who signed in on it
    ts: np.ndarray  # µs, after both were identified
    prop: np.ndarray  # the colleague's identify traits (property index)

    def __len__(self) -> int:
        """Number of shared-device identifications."""
        return len(self.owner)


def shared_devices(
    rng: np.random.Generator, c: Contacts, clock: Clock, p: float, traits: np.ndarray
) -> SharedDevices:
    """A share p of identified contacts whose device a colleague of the same account later
    identifies on (a shared laptop): at most one per account, so each is one merge.

    Uses its own generator, so planting these never changes the rest of the world.
    """
    tid = clock.to_us_or_never(c.t_id)
    ident = np.flatnonzero(tid < clock.end_us)  # identified in the window; grouped by account
    n_acc = int(c.account.max()) + 1 if len(c) else 0
    per_acc = np.bincount(c.account[ident], minlength=n_acc)
    first = np.cumsum(per_acc) - per_acc
    rank = np.arange(len(ident)) - first[c.account[ident]]  # position among the account's identified
    u = rng.random((len(ident), 3))  # draws per identified contact, independent of p
    pick = np.flatnonzero((u[:, 0] < p) & (per_acc[c.account[ident]] >= 2))
    _, keep = np.unique(c.account[ident[pick]], return_index=True)  # at most one per account
    pick = pick[keep]
    owner = ident[pick]
    a = c.account[owner]
    k = np.floor(u[pick, 1] * (per_acc[a] - 1)).astype(np.int64)
    colleague = ident[first[a] + k + (k >= rank[pick])]
    later = np.maximum(c.t_id[owner], c.t_id[colleague])
    delay = 0.05 - 30.0 * clock.scale * np.log1p(-u[pick, 2])  # days: over an hour, a month on average
    t = clock.office(later + delay, rng)  # a colleague signs in at the office
    ts = clock.to_us(t)
    inside = ts < clock.end_us
    return SharedDevices(owner[inside], colleague[inside], ts[inside], traits[colleague[inside]])


def interest(buf: EventBuffer, vocab: PropVocab, c: Contacts) -> None:
    """The first sign of interest that makes a suspect a prospect (at t_p, counted as a touch)."""
    rng = buf.rng
    who = np.flatnonzero(np.isfinite(c.t_p))
    t = c.t_p[who]
    topic = c.topic[who]
    product = TOPIC_PRODUCT[topic]
    device = _device(rng, c, who, t)
    pick = rng.choice(3, size=len(who), p=[0.55, 0.35, 0.10])
    dl, pr, demo = (pick == k for k in range(3))
    buf.add(who[dl], t[dl], "content_download", device=device[dl], kind=KIND_WEB,
            topic=topic[dl], prop=vocab.download[topic[dl]])
    buf.add(who[pr], t[pr], "page_view", device=device[pr], kind=KIND_WEB, evidence=_PROSPECT,
            prop=vocab.page[PRICING_PATH[1 + product[pr]], 0], topic=-1)
    buf.add(who[demo], t[demo], "demo_requested", device=device[demo], kind=KIND_WEB,
            topic=topic[demo], prop=vocab.demo[product[demo]])
    both = demo | (dl & (rng.random(len(who)) < 0.5))
    form = np.where(demo, FORMS.index("demo"), FORMS.index("download"))
    buf.add(who[both], t[both], "form_submit", device=device[both], kind=KIND_WEB,
            prop=vocab.form[form[both]])


def email_chain(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, who: np.ndarray, t: np.ndarray,
    campaign: np.ndarray, *, p_open: float, p_click: float, skew: float,
) -> None:
    """Sends, with bounces, opens (a few logged before the send: clock skew) and clicks."""
    rng = buf.rng
    n = len(who)
    if n == 0:
        return
    topic = CAMPAIGN_TOPIC[campaign]
    buf.add(who, t, "email_sent", topic=topic, prop=vocab.campaign[campaign])
    bounce = rng.random(n) < 0.01
    buf.add(who[bounce], t[bounce] + 40 * _SECOND, "email_bounce", topic=topic[bounce],
            prop=vocab.campaign[campaign[bounce]])
    opened = np.flatnonzero(~bounce & (rng.random(n) < p_open))
    t_open = t[opened] + rng.exponential(0.4, len(opened))
    skewed = rng.random(len(opened)) < skew
    t_open[skewed] = t[opened[skewed]] - rng.uniform(1, 300, int(skewed.sum())) * _SECOND
    camp_o = campaign[opened]
    buf.add(who[opened], t_open, "email_open", topic=topic[opened], prop=vocab.campaign[camp_o])
    clicked = rng.random(len(opened)) < p_click
    t_click = t_open[clicked] + rng.exponential(90 * _SECOND, int(clicked.sum()))
    who_c, camp_c = who[opened[clicked]], camp_o[clicked]
    buf.add(who_c, t_click, "email_click", topic=CAMPAIGN_TOPIC[camp_c], prop=vocab.click[camp_c])
    land = rng.random(len(who_c)) < 0.5
    path = CAMPAIGN_PATH[camp_c[land]]
    buf.add(who_c[land], t_click[land] + 3 * _SECOND, "page_view", device=0, kind=KIND_WEB,
            topic=PAGE_TOPIC[path], prop=vocab.page[path, 0])


def email_background(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, budget: int, skew: float
) -> None:
    """Newsletters to identified contacts until they unsubscribe: about `budget` events."""
    rng = buf.rng
    d = float(buf.clock.days)
    who = np.flatnonzero(c.t_id < d)
    lo = c.t_id[who]
    hi = np.minimum(c.t_unsub[who], d)
    weight = np.clip(hi - lo, 0.0, None) * (0.5 + 0.5 * c.engagement[who])
    if budget > 0 and weight.sum() > 0:
        sends = int(round(budget / 1.4))
        counts = rng.multinomial(sends, weight / weight.sum())
        rows, t = _spread(rng, who, lo, hi, counts)
        campaign = rng.integers(0, NURTURE_CAMPAIGN0, len(rows))
        email_chain(buf, vocab, c, who[rows], t, campaign, p_open=0.3, p_click=0.25, skew=skew)
    gone = np.flatnonzero(c.t_unsub < d)
    buf.add(gone, c.t_unsub[gone], "unsubscribe", prop=vocab.unsubscribe)


def social_background(buf: EventBuffer, vocab: PropVocab, c: Contacts) -> None:
    """Occasional likes and shares by identified contacts."""
    rng = buf.rng
    d = float(buf.clock.days)
    who = np.flatnonzero(c.t_id < d)
    span = d - c.t_id[who]
    counts = rng.poisson(0.15 * c.engagement[who] * span / 30.0)
    rows, t = _spread(rng, who, c.t_id[who], np.full(len(who), d), counts)
    _social(buf, vocab, who[rows], t)


def _social(buf: EventBuffer, vocab: PropVocab, who: np.ndarray, t: np.ndarray) -> None:
    """Social engagement events with a network and an action."""
    rng = buf.rng
    net = rng.choice(len(SOCIAL_NETWORKS), size=len(who), p=[0.7, 0.1, 0.1, 0.1])
    act = rng.choice(len(SOCIAL_ACTIONS), size=len(who), p=[0.55, 0.2, 0.15, 0.1])
    buf.add(who, t, "social_engagement", prop=vocab.social[net, act])


def nurture_touches(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, rates: dict[str, float], skew: float
) -> None:
    """Each prospect's touches in the nurture window [t_p, t_d), per channel."""
    rng = buf.rng
    who = np.flatnonzero(np.isfinite(c.t_p))
    lo, hi = c.t_p[who], c.t_d[who]
    months = (hi - lo) / 30.0 * c.engagement[who]

    def draw(channel: str) -> tuple[np.ndarray, np.ndarray]:
        rows, t = _spread(rng, who, lo, hi, rng.poisson(rates.get(channel, 0.0) * months))
        return who[rows], t

    # web: content and pricing pages, downloads, forms, demo requests
    w, t = draw("web")
    topic = c.topic[w]
    product = TOPIC_PRODUCT[topic]
    kind = rng.choice(4, size=len(w), p=[0.6, 0.3, 0.05, 0.05])
    device = _device(rng, c, w, t)
    pricing = rng.random(len(w)) < 0.3
    path = np.where(pricing, PRICING_PATH[1 + product], SOLUTION_PATH[topic])
    m = kind == 0
    buf.add(w[m], t[m], "page_view", device=device[m], kind=KIND_WEB, topic=PAGE_TOPIC[path[m]],
            prop=vocab.page[path[m], 0], evidence=np.where(pricing[m], _PROSPECT, 0))
    m = kind == 1
    buf.add(w[m], t[m], "content_download", device=device[m], kind=KIND_WEB, topic=topic[m],
            prop=vocab.download[topic[m]])
    m = kind == 2
    buf.add(w[m], t[m], "form_submit", device=device[m], kind=KIND_WEB,
            prop=vocab.form[FORMS.index("contact")])
    m = kind == 3
    buf.add(w[m], t[m], "demo_requested", device=device[m], kind=KIND_WEB, topic=topic[m],
            prop=vocab.demo[product[m]])

    # email: nurture sequence on the contact's topic
    w, t = draw("email")
    email_chain(buf, vocab, c, w, t, NURTURE_CAMPAIGN0 + c.topic[w],
                p_open=0.45, p_click=0.35, skew=skew)

    # event: webinars (registration, then attendance on the day) and trade fairs
    w, t = draw("event")
    fair = rng.random(len(w)) < 0.3
    wf, tf = w[fair], t[fair]
    fair_id = rng.integers(0, len(FAIRS), len(wf))
    buf.add(wf, tf, "event_attended", prop=vocab.fair[fair_id], office=True)
    ww, tw = w[~fair], t[~fair]
    wt = np.where(rng.random(len(ww)) < 0.7, c.topic[ww], rng.integers(0, len(TOPICS), len(ww)))
    buf.add(ww, tw, "webinar_registered", topic=wt, prop=vocab.webinar[wt])
    went = rng.random(len(ww)) < 0.65
    t_att = buf.clock.office(tw[went] + rng.uniform(1.0, 14.0, int(went.sum())), rng)
    buf.add(ww[went], t_att, "webinar_attended", topic=wt[went], prop=vocab.webinar[wt[went]])
    rate = rng.random(len(t_att)) < 0.15
    t_answer = t_att[rate] + rng.uniform(0.05, 2.0, int(rate.sum()))
    survey_answers(buf, vocab, c, ww[went][rate], t_answer, "csat", np.zeros(int(rate.sum())))

    # meeting and phone: discovery meetings and calls with sales
    w, t = draw("meeting")
    kind_m = rng.choice(2, size=len(w), p=[0.6, 0.4])  # discovery, demo
    dur = rng.choice(len(DURATIONS), size=len(w), p=[0.0, 0.35, 0.3, 0.3, 0.05])
    buf.add(w, t, "meeting_held", prop=vocab.meeting[kind_m, dur], office=True)
    w, t = draw("phone")
    direction = (rng.random(len(w)) < 0.7).astype(np.int64)
    dur = rng.choice(len(DURATIONS), size=len(w), p=[0.5, 0.35, 0.1, 0.05, 0.0])
    buf.add(w, t, "call_held", prop=vocab.call[direction, dur], office=True)

    # social
    w, t = draw("social")
    _social(buf, vocab, w, t)


def survey_answers(
    buf: EventBuffer, vocab: PropVocab, c: Contacts, who: np.ndarray, t: np.ndarray,
    survey: str, satisfaction: np.ndarray,
) -> None:
    """Survey answers whose scores follow the account's latent satisfaction; some comment."""
    rng = buf.rng
    n = len(who)
    if n == 0:
        return
    low, high, centre, spread = _SURVEY_SCALE[survey]
    raw = rng.normal(centre + 0.6 * spread * satisfaction, spread)
    score = np.clip(np.rint(raw), low, high).astype(np.int64)
    commented = rng.random(n) < 0.25
    finnish = c.language[who] == 0  # LANGUAGES[0] == "fi"
    comment = np.where(commented, 1 + rng.integers(0, 3, n) + np.where(finnish, 3, 0), 0)
    buf.add(who, t, "survey_answered", value=score.astype(np.float64),
            prop=vocab.survey[survey][score - low, comment])

