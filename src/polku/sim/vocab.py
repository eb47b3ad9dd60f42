"""Event-type codes and the fixed vocabulary of JSON properties, topics and paths.

Events are generated as integer codes; strings are only materialised at the end by
taking from the small vocabularies defined here, so no per-event Python objects exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import numpy as np

from polku.model import STAGE_RANK, STANDARD_EVENTS, Channel
from polku.sim.words import OWNERS

TYPES: Final[tuple[str, ...]] = tuple(STANDARD_EVENTS)
TYPE_CODE: Final[dict[str, int]] = {t: i for i, t in enumerate(TYPES)}
CHANNEL_LIST: Final[tuple[str, ...]] = tuple(c.value for c in Channel)
CHANNEL_CODE: Final[dict[str, int]] = {c: i for i, c in enumerate(CHANNEL_LIST)}
TYPE_CHANNEL: Final[np.ndarray] = np.array(
    [CHANNEL_CODE[STANDARD_EVENTS[t][0]] for t in TYPES], dtype=np.int8
)

# Stage evidence: the lowest lifecycle stage an event of each type proves (see truth
# "stage_rule"). page_view proves "prospect" only on /pricing paths (set per event).
STAGE_EVIDENCE: Final[dict[str, tuple[str, ...]]] = {
    "suspect": ("identify",),
    "prospect": (
        "content_download", "demo_requested", "quote_requested", "webinar_registered",
        "webinar_attended", "event_attended", "meeting_held", "call_held", "page_view:/pricing*",
    ),
    "lead": ("lead_qualified",),
    "opportunity": ("sales_accepted",),
    "customer": (
        "order_placed", "contract_renewed", "portal_login", "product_usage", "sensor_reading",
        "ticket_opened", "ticket_closed",
    ),
}
TYPE_EVIDENCE: Final[np.ndarray] = np.zeros(len(TYPES), dtype=np.int8)
for _stage, _types in STAGE_EVIDENCE.items():
    for _t in _types:
        if _t in TYPE_CODE:
            TYPE_EVIDENCE[TYPE_CODE[_t]] = STAGE_RANK[_stage]

# Time granularity in seconds: CRM records by the minute, sensors on the hour.
TYPE_GRANULARITY: Final[np.ndarray] = np.ones(len(TYPES), dtype=np.float64)
for _t in (
    "lead_qualified", "sales_accepted", "order_placed", "contract_renewed",
    "meeting_held", "call_held", "event_attended",
):
    TYPE_GRANULARITY[TYPE_CODE[_t]] = 60.0
TYPE_GRANULARITY[TYPE_CODE["sensor_reading"]] = 3600.0

TOPICS: Final[tuple[str, ...]] = (
    "predictive-maintenance", "energy-efficiency", "remote-monitoring", "spare-parts",
    "fleet-management", "automation", "sustainability", "service-contracts", "digital-twin",
    "safety",
)
TOPIC_TITLES: Final[tuple[str, ...]] = (
    "Predictive maintenance", "Energy efficiency", "Remote monitoring", "Spare parts",
    "Fleet management", "Automation", "Sustainability", "Service contracts", "Digital twins",
    "Safety",
)
# P(topic | industry): each industry leans to a few topics.
INDUSTRY_TOPIC_W: Final[np.ndarray] = np.array(
    [
        [5, 3, 3, 3, 0.5, 4, 1, 2, 2, 1],
        [2, 2, 3, 1, 6, 2, 2, 1, 1, 2],
        [3, 6, 4, 1, 0.5, 2, 4, 1, 2, 1],
        [1, 1, 3, 0.5, 1, 5, 1, 1, 4, 0.5],
        [2, 2, 4, 1, 0.5, 2, 1, 3, 1, 4],
        [1, 3, 2, 2, 3, 3, 3, 1, 1, 1],
        [2, 3, 2, 2, 2, 2, 3, 2, 2, 5],
    ]
)
PRODUCTS: Final[tuple[str, ...]] = ("monitor", "service-plus", "analytics", "parts", "fleet")
TOPIC_PRODUCT: Final[np.ndarray] = np.array([0, 2, 0, 3, 4, 2, 2, 1, 2, 0])

GENERAL_PATHS: Final[tuple[str, ...]] = (
    "/", "/about", "/contact", "/careers", "/references", "/resources", "/blog",
    "/blog/why-downtime-costs-more", "/blog/five-kpis-for-service", "/blog/from-data-to-action",
    "/blog/case-kivisto", "/blog/remote-service-in-practice", "/events",
    *(f"/products/{p}" for p in PRODUCTS),
    *(f"/solutions/{t}" for t in TOPICS),
    *(f"/resources/{t}" for t in TOPICS),
)
GENERAL_PATH_W: Final[np.ndarray] = np.array(
    [12, 2, 2, 1.5, 2, 2, 2, 1.5, 1.5, 1.5, 1, 1, 1.5]
    + [2.0] * len(PRODUCTS)
    + [1.5] * len(TOPICS)
    + [0.7] * len(TOPICS)
)
PRICING_PATHS: Final[tuple[str, ...]] = ("/pricing", *(f"/pricing/{p}" for p in PRODUCTS))
PORTAL_PATHS: Final[tuple[str, ...]] = (
    "/portal", "/portal/orders", "/portal/tickets", "/portal/devices", "/portal/reports",
    "/portal/invoices", "/portal/documents",
)
PAGE_PATHS: Final[tuple[str, ...]] = GENERAL_PATHS + PRICING_PATHS
PAGE_TOPIC: Final[np.ndarray] = np.array(
    [
        TOPICS.index(p.rsplit("/", 1)[1]) if p.rsplit("/", 1)[1] in TOPICS else -1
        for p in PAGE_PATHS
    ],
    dtype=np.int16,
)
SOLUTION_PATH: Final[np.ndarray] = np.array([PAGE_PATHS.index(f"/solutions/{t}") for t in TOPICS])
PRICING_PATH: Final[np.ndarray] = np.array([PAGE_PATHS.index(p) for p in PRICING_PATHS])
REFERRERS: Final[tuple[str, ...]] = ("google", "linkedin", "bing", "duckduckgo")

FORMS: Final[tuple[str, ...]] = ("newsletter", "contact", "download", "webinar", "demo")
CAMPAIGNS: Final[tuple[str, ...]] = (
    "newsletter", "product-news", "customer-stories", "event-invitations",
    *(f"nurture-{t}" for t in TOPICS),
    "nps-survey", "proposal", "onboarding",
)
CAMPAIGN_TOPIC: Final[np.ndarray] = np.array(
    [-1, -1, -1, -1, *range(len(TOPICS)), -1, -1, -1], dtype=np.int16
)
CAMPAIGN_PATH: Final[np.ndarray] = np.array(
    [
        PAGE_PATHS.index("/blog"), PAGE_PATHS.index("/products/monitor"),
        PAGE_PATHS.index("/references"), PAGE_PATHS.index("/events"),
        *(PAGE_PATHS.index(f"/resources/{t}") for t in TOPICS),
        PAGE_PATHS.index("/"), PAGE_PATHS.index("/pricing"), PAGE_PATHS.index("/"),
    ]
)
NURTURE_CAMPAIGN0: Final[int] = 4
FAIRS: Final[tuple[str, ...]] = (
    "Alihankinta", "Elmia Subcontractor", "Hannover Messe", "Logistiikkapäivät",
    "Energiaviikko", "Teknologia", "Nordic Maintenance Days",
)
MEETING_KINDS: Final[tuple[str, ...]] = (
    "discovery", "demo", "negotiation", "onboarding", "business_review",
)
DURATIONS: Final[tuple[int, ...]] = (15, 30, 45, 60, 90)
SOCIAL_NETWORKS: Final[tuple[str, ...]] = ("linkedin", "x", "youtube", "facebook")
SOCIAL_ACTIONS: Final[tuple[str, ...]] = ("like", "share", "comment", "follow")
TICKET_PRIORITIES: Final[tuple[str, ...]] = ("low", "normal", "high", "critical")
TICKET_CATEGORIES: Final[tuple[str, ...]] = (
    "installation", "fault", "billing", "spare_parts", "usage_question",
)
TICKET_RESOLUTIONS: Final[tuple[str, ...]] = ("fixed", "workaround", "no_fault_found")
FEATURES: Final[tuple[str, ...]] = (
    "dashboard", "reports", "alerts", "api", "mobile_app", "remote_control",
)
SENSORS: Final[tuple[tuple[str, str, float, float], ...]] = (
    # name, unit, typical level, noise
    ("vibration", "mm/s", 2.5, 0.4),
    ("temperature", "C", 61.0, 2.5),
    ("pressure", "bar", 6.2, 0.3),
    ("energy", "kWh", 140.0, 18.0),
    ("runtime", "h", 19.0, 3.0),
)
SURVEYS: Final[dict[str, tuple[int, int]]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
COMMENTS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {
        "negative": (
            "Response time was too slow.",
            "Hard to find the right contact person.",
            "The invoice was wrong again.",
        ),
        "neutral": (
            "Works, but the portal could be simpler.",
            "OK overall.",
            "Delivery was on time but communication was patchy.",
        ),
        "positive": (
            "Great service, very quick response!",
            "Easy to do business with.",
            "The technician was excellent.",
        ),
    },
    "fi": {
        "negative": (
            "Vasteaika oli liian pitkä.",
            "Oikeaa yhteyshenkilöä oli vaikea löytää.",
            "Lasku oli taas väärin.",
        ),
        "neutral": (
            "Toimii, mutta portaali voisi olla selkeämpi.",
            "Ihan ok.",
            "Toimitus ajallaan, tiedotus vaihtelevaa.",
        ),
        "positive": (
            "Erinomaista palvelua, nopea vastaus!",
            "Helppo asioida.",
            "Huoltomies oli todella osaava.",
        ),
    },
}
SENTIMENTS: Final[tuple[str, ...]] = ("negative", "neutral", "positive")


def sentiment_of(survey: str, score: int) -> int:
    """Index in SENTIMENTS of a survey score (NPS detractor/passive/promoter and alike)."""
    if survey == "nps":
        return 0 if score <= 6 else 1 if score <= 8 else 2
    if survey == "csat":
        return 0 if score <= 2 else 1 if score == 3 else 2
    return 0 if score <= 3 else 1 if score <= 5 else 2


def to_json(obj: dict[str, Any]) -> str:
    """The one JSON encoding used for properties."""
    return json.dumps(obj, ensure_ascii=False)


@dataclass(frozen=True)
class PropVocab:
    """Every fixed properties JSON text, and index tables to pick them by code."""

    strings: tuple[str, ...]
    empty: int
    page: np.ndarray  # [path, referrer (0 = none)]
    portal_page: np.ndarray  # [portal path]
    form: np.ndarray  # [form]
    download: np.ndarray  # [topic]
    demo: np.ndarray  # [product]
    quote: np.ndarray  # [product]
    campaign: np.ndarray  # [campaign]
    click: np.ndarray  # [campaign]
    unsubscribe: int
    webinar: np.ndarray  # [topic]
    fair: np.ndarray  # [fair]
    meeting: np.ndarray  # [kind, duration]
    call: np.ndarray  # [direction, duration]
    portal_login: np.ndarray  # [method]
    social: np.ndarray  # [network, action]
    lead_score: np.ndarray  # [score - 40]
    owner: np.ndarray  # [owner]
    order: np.ndarray  # [new/repeat, product]
    renewal: np.ndarray  # [term index]
    usage: np.ndarray  # [feature]
    sensor: np.ndarray  # [sensor]
    survey: dict[str, np.ndarray]  # kind -> [score - low, comment (0 none, 1..3 en, 4..6 fi)]


@cache
def prop_vocab() -> PropVocab:
    """Build the property vocabulary once; identical for every block and seed."""
    strings: list[str] = []
    index: dict[str, int] = {}

    def add(obj: dict[str, Any]) -> int:
        text = to_json(obj)
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    def grid(fn: Any, *sizes: int) -> np.ndarray:
        out = np.zeros(sizes, dtype=np.int32)
        for pos in np.ndindex(*sizes):
            out[pos] = fn(*pos)
        return out

    empty = add({})
    page = grid(
        lambda p, r: add({"path": PAGE_PATHS[p]} | ({"referrer": REFERRERS[r - 1]} if r else {})),
        len(PAGE_PATHS),
        len(REFERRERS) + 1,
    )
    survey: dict[str, np.ndarray] = {}
    for kind, (low, high) in SURVEYS.items():

        def one(s: int, k: int, kind: str = kind, low: int = low) -> int:
            score = low + s
            obj: dict[str, Any] = {"survey": kind, "score": score}
            if k:
                lang = "en" if k <= 3 else "fi"
                obj["comment"] = COMMENTS[lang][SENTIMENTS[sentiment_of(kind, score)]][(k - 1) % 3]
                obj["language"] = lang
            return add(obj)

        survey[kind] = grid(one, high - low + 1, 7)
    tables = dict(
        empty=empty,
        page=page,
        portal_page=grid(lambda p: add({"path": PORTAL_PATHS[p]}), len(PORTAL_PATHS)),
        form=grid(lambda f: add({"form": FORMS[f]}), len(FORMS)),
        download=grid(
            lambda t: add({"title": f"{TOPIC_TITLES[t]}: a practical guide", "format": "pdf"}),
            len(TOPICS),
        ),
        demo=grid(lambda p: add({"product": PRODUCTS[p]}), len(PRODUCTS)),
        quote=grid(lambda p: add({"product": PRODUCTS[p], "currency": "EUR"}), len(PRODUCTS)),
        campaign=grid(lambda c: add({"campaign": CAMPAIGNS[c]}), len(CAMPAIGNS)),
        click=grid(
            lambda c: add({"campaign": CAMPAIGNS[c], "url": PAGE_PATHS[CAMPAIGN_PATH[c]]}),
            len(CAMPAIGNS),
        ),
        unsubscribe=add({"list": "marketing"}),
        webinar=grid(lambda t: add({"webinar": f"Webinar: {TOPIC_TITLES[t]}"}), len(TOPICS)),
        fair=grid(lambda f: add({"event": FAIRS[f]}), len(FAIRS)),
        meeting=grid(
            lambda k, d: add({"kind": MEETING_KINDS[k], "duration_min": DURATIONS[d]}),
            len(MEETING_KINDS),
            len(DURATIONS),
        ),
        call=grid(
            lambda i, d: add(
                {"direction": ("inbound", "outbound")[i], "duration_min": DURATIONS[d]}
            ),
            2,
            len(DURATIONS),
        ),
        portal_login=grid(lambda m: add({"method": ("sso", "password")[m]}), 2),
        social=grid(
            lambda n, a: add({"network": SOCIAL_NETWORKS[n], "action": SOCIAL_ACTIONS[a]}),
            len(SOCIAL_NETWORKS),
            len(SOCIAL_ACTIONS),
        ),
        lead_score=grid(lambda s: add({"score": 40 + s}), 61),
        owner=grid(lambda o: add({"owner": OWNERS[o]}), len(OWNERS)),
        order=grid(
            lambda k, p: add(
                {"order_type": ("new", "repeat")[k], "product": PRODUCTS[p], "currency": "EUR"}
            ),
            2,
            len(PRODUCTS),
        ),
        renewal=grid(lambda t: add({"term_months": (12, 24, 36)[t], "currency": "EUR"}), 3),
        usage=grid(lambda f: add({"feature": FEATURES[f], "unit": "hours"}), len(FEATURES)),
        sensor=grid(
            lambda s: add({"sensor": SENSORS[s][0], "unit": SENSORS[s][1]}), len(SENSORS)
        ),
        survey=survey,
    )
    return PropVocab(strings=tuple(strings), **tables)  # type: ignore[arg-type]

