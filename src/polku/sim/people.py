"""Accounts, their buying groups, and each contact's planned journey timeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polku.model import OrgLevel, Role
from polku.sim import words as W
from polku.sim.events import Clock
from polku.sim.ids import anonymous_ids, name_permutation
from polku.sim.params import SimParams
from polku.sim.vocab import INDUSTRY_TOPIC_W, SENSORS, to_json

ROLES: tuple[str, ...] = tuple(r.value for r in Role)
LEVELS: tuple[str, ...] = tuple(lv.value for lv in OrgLevel)
EXECUTIVE, MANAGEMENT, OPERATIONAL = (
    LEVELS.index(x) for x in ("executive", "management", "operational")
)
DECISION_MAKER = ROLES.index("decision_maker")
PURCHASER = ROLES.index("purchaser")
USER = ROLES.index("user")
MAX_GROUP = 8

# P(role | org level), columns in ROLES order:
# decision_maker, influencer, user, purchaser, executive, champion, gatekeeper, other.
_ROLE_P = np.array(
    [
        [0.45, 0.10, 0.00, 0.00, 0.35, 0.05, 0.00, 0.05],
        [0.15, 0.30, 0.05, 0.20, 0.00, 0.15, 0.10, 0.05],
        [0.00, 0.10, 0.60, 0.10, 0.00, 0.10, 0.05, 0.05],
    ]
)
_LEVEL_P = np.array([0.15, 0.40, 0.45])
# Per-role multipliers of P(identified) and P(prospect | identified).
_ROLE_IDENTIFY = np.array([1.0, 1.05, 0.9, 1.0, 0.8, 1.15, 0.95, 0.85])
_ROLE_INTEREST = np.array([1.1, 1.1, 0.7, 1.0, 0.9, 1.25, 0.8, 0.7])


@dataclass(frozen=True)
class Accounts:
    """The organisations of one block, as parallel arrays."""

    index: np.ndarray  # global account index (0-based)
    account_id: list[str]
    name: list[str]
    domain: list[str]
    industry: np.ndarray
    country: np.ndarray
    employees: np.ndarray
    owner: np.ndarray
    satisfaction: np.ndarray  # latent, drives survey scores and tickets
    deal_size: np.ndarray  # EUR, typical first order
    sensor: np.ndarray  # which sensor kind their installed devices report

    def __len__(self) -> int:
        """Number of accounts."""
        return len(self.index)


def _names(index: np.ndarray, industry: np.ndarray, seed: int) -> tuple[list[str], list[str]]:
    """Unique company name stems and domain bases, from a seeded permutation of the index."""
    n_end = len(W.STEM_ENDINGS) + 1
    size = len(W.STEMS) * n_end * 6
    a, c = name_permutation(seed, size)
    names, bases = [], []
    for g, ind in zip(index.tolist(), industry.tolist(), strict=True):
        q, r = divmod(g, size)
        m = (a * r + c) % size
        i1, rest = divmod(m, n_end * 6)
        i2, k = divmod(rest, 6)
        stem = W.STEMS[i1] + (W.STEM_ENDINGS[i2 - 1] if i2 else "")
        word = W.INDUSTRY_WORDS[ind][k]
        name, base = f"{stem} {word}", f"{W.slug(stem)}-{W.slug(word)}"
        if q:
            name, base = f"{name} {q + 1}", f"{base}-{q + 1}"
        names.append(name)
        bases.append(base)
    return names, bases


def make_accounts(rng: np.random.Generator, seed: int, first: int, n: int) -> Accounts:
    """The n accounts with global indices first .. first+n-1."""
    index = np.arange(first, first + n, dtype=np.int64)
    industry = rng.choice(len(W.INDUSTRIES), size=n, p=W.INDUSTRY_P)
    country = rng.choice(len(W.COUNTRIES), size=n, p=W.COUNTRY_P)
    median = np.asarray(W.INDUSTRY_EMPLOYEES)[industry]
    employees = np.clip(np.exp(rng.normal(np.log(median), 1.1)), 8, 25_000).astype(np.int64)
    owner_pick = rng.random(n)
    team = [W.COUNTRY_OWNERS[ct] for ct in country.tolist()]
    owner = np.array([t[int(u * len(t))] for t, u in zip(team, owner_pick, strict=True)], np.int64)
    satisfaction = rng.normal(0.0, 1.0, n)
    deal = np.exp(rng.normal(np.log(18_000) + 0.45 * np.log(employees / 100), 0.5))
    deal_size = np.round(deal, -1)
    sensor = rng.integers(0, len(SENSORS), n)
    dot_com = rng.random(n) < 0.12
    names, bases = _names(index, industry, seed)
    tlds = np.where(dot_com, "com", np.asarray(W.TLD)[country]).tolist()
    domains = [f"{b}.{tld}" for b, tld in zip(bases, tlds, strict=True)]
    full_names = [f"{nm} {W.LEGAL_FORM[ct]}" for nm, ct in zip(names, country, strict=True)]
    return Accounts(
        index=index,
        account_id=[f"A{g + 1:05d}" for g in index.tolist()],
        name=full_names,
        domain=domains,
        industry=industry,
        country=country,
        employees=employees,
        owner=owner,
        satisfaction=satisfaction,
        deal_size=deal_size,
        sensor=sensor,
    )


@dataclass(frozen=True)
class Contacts:
    """The people of one block's buying groups and their planned timelines (in days)."""

    account: np.ndarray  # block-local account index
    slot: np.ndarray  # global, unique: account index * 8 + position in the group
    level: np.ndarray
    role: np.ndarray
    language: np.ndarray
    name: list[str]
    title: list[str]
    email: list[str]
    crm_id: list[str]
    anonymous_id: list[str]  # two per contact: [2 * i] device 0, [2 * i + 1] device 1
    identify_props: list[str]
    freemail: np.ndarray
    engagement: np.ndarray
    topic: np.ndarray
    prospect: np.ndarray  # planned to show interest
    second_device: np.ndarray
    t0: np.ndarray  # first visit, device 0
    visitor_end: np.ndarray  # end of browsing for never-identified visitors
    t_id: np.ndarray  # identify on device 0 (inf: never)
    t0b: np.ndarray  # first visit, device 1 (inf: no second device)
    t_idb: np.ndarray  # identify on device 1
    t_p: np.ndarray  # first sign of interest (start of the nurture window)
    t_d: np.ndarray  # end of the nurture window: the opportunity decision
    t_unsub: np.ndarray  # unsubscribes from marketing e-mail

    def __len__(self) -> int:
        """Number of contacts."""
        return len(self.account)


def _group_sizes(rng: np.random.Generator, employees: np.ndarray) -> np.ndarray:
    """Buying-group sizes, 2..8, larger in larger firms."""
    lam = 1.2 + 0.6 * np.clip(np.log10(employees / 50.0), 0.0, None)
    return np.clip(2 + rng.poisson(lam), 2, MAX_GROUP)


def _pick_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def _people_strings(
    rng: np.random.Generator, acc: Accounts, account: np.ndarray, slot: np.ndarray,
    level: np.ndarray, role: np.ndarray, language: np.ndarray, freemail: np.ndarray,
) -> tuple[list[str], list[str], list[str]]:
    """Names, titles and e-mail addresses, unique within the world."""
    n = len(account)
    u = rng.random((n, 4))
    names, titles, emails = [], [], []
    seen: set[str] = set()
    for i in range(n):
        lang = W.LANGUAGES[language[i]]
        firsts, lasts = W.FIRST_NAMES[lang], W.LAST_NAMES[lang]
        first, last = firsts[int(u[i, 0] * len(firsts))], lasts[int(u[i, 1] * len(lasts))]
        names.append(f"{first} {last}")
        if role[i] == PURCHASER and level[i] != EXECUTIVE:
            pool = W.TITLES["purchaser"]
        else:
            pool = W.TITLES[LEVELS[level[i]]]
        titles.append(pool[int(u[i, 2] * len(pool))])
        local = f"{W.slug(first, '')}.{W.slug(last, '')}"
        if freemail[i]:
            domain = W.FREEMAIL_DOMAINS[int(u[i, 3] * len(W.FREEMAIL_DOMAINS))]
            email = f"{local}{slot[i]}@{domain}"
        else:
            email = f"{local}@{acc.domain[account[i]]}"
            if email in seen:
                email = f"{local}{slot[i] % MAX_GROUP + 1}@{acc.domain[account[i]]}"
        seen.add(email)
        emails.append(email)
    return names, titles, emails


def _identify_props(
    acc: Accounts, account: np.ndarray, names: list[str], titles: list[str],
    level: np.ndarray, role: np.ndarray, language: np.ndarray,
) -> list[str]:
    """The traits JSON every identify call of a contact carries."""
    out = []
    for i in range(len(account)):
        a = int(account[i])
        out.append(
            to_json(
                {
                    "name": names[i],
                    "title": titles[i],
                    "role": ROLES[role[i]],
                    "org_level": LEVELS[level[i]],
                    "language": W.LANGUAGES[language[i]],
                    "account": {
                        "name": acc.name[a],
                        "domain": acc.domain[a],
                        "industry": W.INDUSTRIES[acc.industry[a]],
                        "employees": int(acc.employees[a]),
                    },
                }
            )
        )
    return out


def make_contacts(
    rng: np.random.Generator, acc: Accounts, seed: int, block: int, params: SimParams, clock: Clock
) -> Contacts:
    """Buying groups for the accounts, with roles, identities and planned timelines."""
    sizes = _group_sizes(rng, acc.employees)
    account = np.repeat(np.arange(len(acc)), sizes)
    n = len(account)
    starts = np.cumsum(sizes) - sizes
    pos = np.arange(n) - np.repeat(starts, sizes)
    slot = acc.index[account] * MAX_GROUP + pos

    level = _pick_rows(rng, np.broadcast_to(_LEVEL_P, (n, 3)))
    first = pos == 0
    level[first] = np.where(rng.random(int(first.sum())) < 0.5, EXECUTIVE, MANAGEMENT)
    role = _pick_rows(rng, _ROLE_P[level])
    role[first] = DECISION_MAKER
    language = _pick_rows(rng, np.asarray(W.COUNTRY_LANGUAGE_P)[acc.country[account]])
    freemail = rng.random(n) < params.p_freemail
    topic = _pick_rows(rng, INDUSTRY_TOPIC_W[acc.industry[account]])
    engagement = rng.gamma(2.0, 0.5, n) * np.exp(rng.normal(0.0, 0.3, len(acc)))[account]

    names, titles, emails = _people_strings(
        rng, acc, account, slot, level, role, language, freemail
    )
    props = _identify_props(acc, account, names, titles, level, role, language)

    # Planned timeline, in days from the start of the world.
    s, d = clock.scale, float(clock.days)
    inf = np.full(n, np.inf)
    t0 = rng.uniform(0.0, 0.8 * d, n)
    identified = rng.random(n) < np.clip(params.p_identify * _ROLE_IDENTIFY[role], 0.0, 0.98)
    t_id = np.where(identified, t0 + rng.exponential(20.0 * s, n) + 0.01, inf)
    visitor_end = np.where(identified, inf, t0 + rng.uniform(0.5, 60.0, n) * s)
    second = identified & (rng.random(n) < params.p_second_device)
    u = rng.random(n)
    t0b = np.where(second, t0 + u * (np.where(identified, t_id, t0) - t0 + 45.0 * s), inf)
    t_idb = np.where(second, np.maximum(t_id, t0b) + rng.exponential(25.0 * s, n) + 0.02, inf)
    p_interest = np.clip(params.p_prospect * _ROLE_INTEREST[role], 0.0, 0.98)
    prospect = identified & (rng.random(n) < p_interest)
    quick = rng.random(n) < 0.3
    delay = np.where(quick, rng.uniform(0.0005, 0.02, n), rng.exponential(25.0 * s, n))
    t_p = np.where(prospect, t_id + delay, inf)
    window = rng.uniform(30.0, 90.0, n) * s
    t_d = clock.office(np.where(prospect, t_p + window, inf), rng)
    unsub = identified & (rng.random(n) < 0.03)
    t_unsub = np.where(unsub, t_id + rng.uniform(5.0, 200.0, n) * s, inf)

    return Contacts(
        account=account,
        slot=slot,
        level=level,
        role=role,
        language=language,
        name=names,
        title=titles,
        email=emails,
        crm_id=[f"C{x + 1:06d}" for x in slot.tolist()],
        anonymous_id=anonymous_ids(seed, block, n),
        identify_props=props,
        freemail=freemail,
        engagement=engagement,
        topic=topic,
        prospect=prospect,
        second_device=second,
        t0=t0,
        visitor_end=visitor_end,
        t_id=t_id,
        t0b=t0b,
        t_idb=t_idb,
        t_p=t_p,
        t_d=t_d,
        t_unsub=t_unsub,
    )
