"""Account CX health: what the account's people say (NPS, CSAT, CES) and what they do, as 0-100 with reasons.

Each component is scored 0-100 (higher is healthier) and weighted by ``cx.yaml``'s
``health.weights``; components without data drop out and the others' weights are rescaled.
Every component compares the account with the workspace's other accounts: its signal is
centred on their median and scaled by their robust spread, then mapped through the normal
curve, so 50 is the typical account and the weights, not the signals' units, decide how much
each one counts.

Say (per measure):
- ``nps``, ``csat``, ``ces``: answers on 0-1 of their scale (the better end 1), each weighted by
  recency (an answer ``half_life_days`` old counts half), averaged per person first so one
  talkative person does not outweigh the rest, then pulled towards the workspace's average by
  ``prior_answers`` pseudo-answers.

Do:
- ``activity``: the account's people's own touches in the last ``window_days`` against the window before.
- ``tickets``: tickets opened per person-month (of the people active in the lookback, since the
  account became a customer); fewer is better (an effort signal).
- ``reopened``: the share of tickets reopened (``ticket_reopened`` events), when the workspace has any.
- ``resolution``: hours from ``ticket_opened`` to ``ticket_closed`` (paired by the ``ticket`` property).
- ``promise``: the share of promise events (deliveries with an ``on_time`` property) kept.
- ``product``: device readings (e.g. vibration) against the same kind of device at other accounts;
  readings worse than the fleet suggest worn machines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from polku.analytics.tables import Tables
from polku.cx.config import CxConfig, Health
from polku.cx.measures import ANSWER_SCALES, MeasureDef

SAY: Final = ("nps", "csat", "ces")
DO: Final = ("activity", "tickets", "reopened", "resolution", "promise", "product")
TICKET_TYPES: Final = ("ticket_opened", "ticket_closed", "ticket_reopened")
PROMISE_TYPES: Final = ("order_delivered", "delivery", "delivery_completed", "shipment_delivered")
CONCERN_BELOW: Final = 40.0
STRENGTH_ABOVE: Final = 70.0
_DAY: Final = 86_400.0


@dataclass(frozen=True)
class HealthInputs:
    """Everything account health reads, as small frames (see ``load_inputs``)."""

    as_of: datetime
    answers: pd.DataFrame  # answer_rows
    people: pd.DataFrame  # contact_id, account_id, name, email, role, org_level, first_seen
    accounts: pd.DataFrame  # account_id, name, owner, stage, customer_since
    activity: pd.DataFrame  # contact_id, account_id, recent, previous, lookback, last_ts
    tickets: pd.DataFrame  # account_id, contact_id, type, ts, ticket, value
    promises: pd.DataFrame  # account_id, ts, on_time
    readings: pd.DataFrame  # account_id, kind, mean, n


@dataclass
class Component:
    """One health component of one account: its 0-100 score, evidence count and plain-words reason."""

    name: str
    score: float
    weight: float
    n: int
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def tone(self) -> str:
        """concern, strength or neutral."""
        return "concern" if self.score < CONCERN_BELOW else "strength" if self.score > STRENGTH_ABOVE else "neutral"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"name": self.name, "score": round(self.score, 1), "weight": self.weight, "n": self.n,
                "tone": self.tone, "reason": self.reason, **({"detail": self.detail} if self.detail else {})}


@dataclass
class AccountHealth:
    """One account's health: the 0-100 score, its components, and reasons in plain words."""

    account_id: str
    health: float | None
    coverage: float  # share of the total weight that had data
    components: list[Component]
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"account_id": self.account_id, "health": None if self.health is None else round(self.health, 1),
                "coverage": round(self.coverage, 3), "components": [c.to_dict() for c in self.components],
                "reasons": self.reasons}


# ---------------------------------------------------------------------------------------------
# loading (Ibis expressions executed to small frames)


def load_inputs(tables: Tables, config: CxConfig, as_of: datetime, answers: pd.DataFrame) -> HealthInputs:
    """The frames health needs as of ``as_of``, aggregated by the engine where they could be large."""
    return load_inputs_at(tables, config, [as_of], answers)[0]


def load_inputs_at(tables: Tables, config: CxConfig, times: Sequence[datetime], answers: pd.DataFrame,
                   ) -> list[HealthInputs]:
    """``load_inputs`` as of each of ``times``, each query run once for all of them.

    Health now and ``drop_days`` earlier read nearly the same rows, so each query covers the
    span of all the times and aggregates per time with filtered aggregates (``count(where=)``);
    the per-time frames are then cut from the results.
    """
    if not times:
        return []
    h = config.health
    last, first = max(times), min(times)
    window, lookback = timedelta(days=h.window_days), timedelta(days=h.lookback_days)
    tp = tables.touchpoints.filter(tables.touchpoints.ts < last)

    acts = tp.filter(~tp.type.isin(h.activity_exclude))
    per_time: dict[str, ir.Value] = {}
    for i, t in enumerate(times):
        before = acts.ts < t
        per_time |= {  # a contact with no touches before t has no last_ts{i}: it is not in that time's activity
            f"account_id{i}": acts.account_id.max(where=before),
            f"recent{i}": acts.count(where=before & (acts.ts >= t - window)),
            f"previous{i}": acts.count(where=(acts.ts >= t - 2 * window) & (acts.ts < t - window)),
            f"lookback{i}": acts.count(where=before & (acts.ts >= t - lookback)),
            f"last_ts{i}": acts.ts.max(where=before),
        }
    contacts = _rows(acts.group_by("contact_id").aggregate(**per_time))

    recent = tp.filter(tp.ts >= first - lookback)
    ev = recent.filter(recent.type.isin((*TICKET_TYPES, *PROMISE_TYPES)) & recent.account_id.notnull())
    props = ev.properties.cast("json")
    events = _rows(ev.select("account_id", "contact_id", "type", "ts", "value", ticket=props["ticket"].str,
                             on_time=props["on_time"].bool))

    rd = recent.filter((recent.type == h.product.event) & recent.value.notnull() & recent.account_id.notnull())
    rd = rd.mutate(kind=rd.properties.cast("json")[h.product.kind_property].str)
    per_kind: dict[str, ir.Value] = {}
    for i, t in enumerate(times):
        inside = (rd.ts >= t - lookback) & (rd.ts < t)
        per_kind |= {f"mean{i}": rd.value.mean(where=inside), f"n{i}": rd.count(where=inside)}
    readings = _rows(rd.group_by(["account_id", "kind"]).aggregate(**per_kind))

    people = _rows(tables.contacts.select("contact_id", "account_id", "name", "email", "role", "org_level",
                                          "first_seen"))
    st = tables.stages.filter((tables.stages.subject == "account") & (tables.stages.stage == "customer")
                              & (tables.stages.ts < last))
    since = st.group_by(account_id=st.subject_id).aggregate(
        **{f"since{i}": st.ts.min(where=st.ts < t) for i, t in enumerate(times)})
    acc = tables.accounts
    accounts = _rows(acc.left_join(since, acc.account_id == since.account_id).select(
        acc.account_id, acc.name, acc.owner, acc.stage, *(since[f"since{i}"] for i in range(len(times)))))

    for i in range(len(times)):
        contacts[f"last_ts{i}"] = pd.to_datetime(contacts[f"last_ts{i}"], utc=True)
        accounts[f"since{i}"] = pd.to_datetime(accounts[f"since{i}"], utc=True)
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    people["first_seen"] = pd.to_datetime(people["first_seen"], utc=True)
    out = []
    for i, t in enumerate(times):
        mine = contacts[contacts[f"last_ts{i}"].notna()]
        activity = pd.DataFrame({"contact_id": mine["contact_id"], **{
            name: mine[f"{name}{i}"] for name in ("account_id", "recent", "previous", "lookback", "last_ts")}})
        inside = (events["ts"] >= t - lookback) & (events["ts"] < t)
        tickets = events.loc[inside & events["type"].isin(TICKET_TYPES),
                             ["account_id", "contact_id", "type", "ts", "value", "ticket"]]
        promises = events.loc[inside & events["type"].isin(PROMISE_TYPES) & events["on_time"].notna(),
                              ["account_id", "ts", "on_time"]].astype({"on_time": bool})
        kinds = readings[readings[f"n{i}"] > 0]
        out.append(HealthInputs(
            t, answers[answers["ts"] < t], people,
            accounts[["account_id", "name", "owner", "stage", f"since{i}"]].rename(
                columns={f"since{i}": "customer_since"}),
            activity.reset_index(drop=True), tickets.reset_index(drop=True), promises.reset_index(drop=True),
            pd.DataFrame({"account_id": kinds["account_id"], "kind": kinds["kind"], "mean": kinds[f"mean{i}"],
                          "n": kinds[f"n{i}"]}).reset_index(drop=True)))
    return out


# ---------------------------------------------------------------------------------------------
# the components (pure; each computes over whole frames, then words the result per account)


def say_component(
    answers: pd.DataFrame, measure: str, m: MeasureDef, h: Health, as_of: datetime,
) -> dict[str, Component]:
    """Per account, the recency-weighted, person-balanced and shrunk answers on one measure."""
    rows = answers[(answers["measure"] == measure) & answers["account_id"].notna()
                   & answers["score"].between(m.low, m.high)]
    if rows.empty:
        return {}
    age = (as_of - rows["ts"]).dt.total_seconds() / _DAY
    w = np.power(0.5, age.clip(lower=0) / h.half_life_days)
    g = (rows["score"] - m.low) / (m.high - m.low)
    if m.better == "lower":
        g = 1.0 - g
    frame = pd.DataFrame({"account_id": rows["account_id"], "contact_id": rows["contact_id"], "w": w, "wg": w * g,
                          "ws": w * rows["score"], "ts": rows["ts"], "one": 1})
    by_person = frame.groupby(["account_id", "contact_id"])
    person = by_person[["w", "wg", "ws", "one"]].sum().rename(columns={"one": "n"})
    person["last"] = by_person["ts"].max()
    person["value"] = person["wg"] / person["w"]
    person["cw"] = person["w"].clip(upper=1.0)
    person["cv"] = person["cw"] * person["value"]
    person["cs"] = person["cw"] * person["ws"] / person["w"]
    prior = float(np.average(person["value"], weights=person["cw"]))
    by_account = person.groupby(level="account_id")
    acc = by_account[["cw", "cv", "cs", "n"]].sum()
    acc["people"] = by_account.size()
    acc["last"] = by_account["last"].max()
    shrunk = (acc["cv"] + h.prior_answers * prior) / (acc["cw"] + h.prior_answers)
    acc["score"] = relative_scores(shrunk)
    acc["mean_score"] = acc["cs"] / acc["cw"]
    acc["days"] = ((as_of - acc["last"]).dt.total_seconds() // _DAY).clip(lower=0).astype(int)
    if measure == "nps":
        kinds = pd.DataFrame({"account_id": rows["account_id"], "promoter": rows["score"] >= 9,
                              "detractor": rows["score"] <= 6}).groupby("account_id").mean()
        acc["nps"] = 100 * (kinds["promoter"] - kinds["detractor"])
        acc["detractors"] = (rows["score"] <= 6).groupby(rows["account_id"]).sum()
    scale = f"{m.low:g}-{m.high:g}" + (" (7 = least effort)" if measure == "ces" and m.better == "higher" else "")
    label = {"nps": "NPS", "csat": "CSAT", "ces": "effort (CES)"}[measure]
    nps = acc["nps"].tolist() if measure == "nps" else [None] * len(acc)
    detractors = acc["detractors"].tolist() if measure == "nps" else [None] * len(acc)
    out = {}
    for account_id, score, mean, n, people, last, days, nps_value, bad in zip(
            acc.index.tolist(), acc["score"].tolist(), acc["mean_score"].tolist(), acc["n"].tolist(),
            acc["people"].tolist(), acc["last"].dt.to_pydatetime().tolist(), acc["days"].tolist(), nps, detractors,
            strict=True):
        reason = (f"{label} answers average {mean:.1f} on {scale} from {people} "
                  f"{'person' if people == 1 else 'people'} ({n} answer{'s' if n != 1 else ''}, last {days} days ago)")
        detail: dict[str, Any] = {"mean_answer": round(mean, 2), "people": people, "last_answer": last.isoformat()}
        if measure == "nps":
            detail["nps"] = round(nps_value, 1)
            detail["detractors"] = int(bad)
        out[str(account_id)] = Component(measure, score, 0.0, int(n), reason, detail)
    return out


def activity_component(activity: pd.DataFrame, h: Health) -> dict[str, Component]:
    """Touches in the last window against the window before: rising is healthy, falling a warning."""
    acts = activity[activity["account_id"].notna()]
    per = acts.groupby("account_id")[["recent", "previous"]].sum()
    per = per[(per["recent"] + per["previous"]) > 0]
    if per.empty:
        return {}
    scores = relative_scores(np.log((per["recent"] + 1) / (per["previous"] + 1)))
    out = {}
    columns = (per.index.tolist(), per["recent"].tolist(), per["previous"].tolist(), scores.tolist())
    for account_id, recent, previous, score in zip(*columns, strict=True):
        if recent == 0:
            words = f"no touches in the last {h.window_days} days (after {previous} before): the account went quiet"
        else:
            change = (recent - previous) / previous if previous else None
            trend = "new activity" if change is None else f"activity {'rose' if change >= 0 else 'fell'} {abs(change):.0%}"
            words = f"{trend} ({recent} touches in the last {h.window_days} days against {previous} before)"
        out[str(account_id)] = Component("activity", score, 0.0, recent + previous, words,
                                         {"recent": recent, "previous": previous})
    return out


def ticket_components(inputs: HealthInputs, h: Health) -> dict[str, dict[str, Component]]:
    """Ticket volume per person-month, reopened share and time to close, per account."""
    tk = inputs.tickets
    out: dict[str, dict[str, Component]] = {"tickets": {}, "reopened": {}, "resolution": {}}
    if tk.empty:
        return out
    exposure = _exposure_months(inputs, h)
    opened = tk[tk["type"] == "ticket_opened"].groupby("account_id").size()
    customers = set(inputs.accounts.loc[inputs.accounts["customer_since"].notna(), "account_id"].tolist())
    accounts = sorted((set(opened.index.tolist()) | customers) & set(exposure.index[exposure > 0].tolist()))
    if accounts:
        k = opened.reindex(accounts, fill_value=0).astype(float)
        months = exposure.reindex(accounts).astype(float)
        typical = float(k.sum() / months.sum())
        if typical > 0:
            shrunk = (k + typical) / (months + 1.0)  # one pseudo person-month at the typical rate
            scores = relative_scores(-np.log(shrunk / typical))
            for a, ka, ma, score in zip(accounts, k.tolist(), months.tolist(), scores.tolist(), strict=True):
                rate = ka / ma
                out["tickets"][a] = Component(
                    "tickets", score, 0.0, int(ka),
                    f"{int(ka)} ticket{'s' if ka != 1 else ''} in {ma:.0f} person-months: {rate:.2f} a "
                    f"person-month, {rate / typical:.1f}x the typical account",
                    {"tickets": int(ka), "person_months": round(ma, 1)})

    reopened = tk[tk["type"] == "ticket_reopened"].groupby("account_id").size()
    if not reopened.empty and not opened.empty:
        r = reopened.reindex(opened.index, fill_value=0)
        typical = float(r.sum() / opened.sum())
        scores = relative_scores(-((r + typical) / (opened + 1.0)))
        for a, ra, oa, score in zip(opened.index.tolist(), r.tolist(), opened.tolist(), scores.tolist(), strict=True):
            out["reopened"][str(a)] = Component("reopened", score, 0.0, oa, f"{ra} of {oa} tickets reopened",
                                                {"reopened": ra, "tickets": oa})

    hours = _resolution_hours(tk)
    if not hours.empty:
        logs = np.log(hours["hours"].clip(lower=0.1))
        typical_log = float(np.median(logs))
        grouped = logs.groupby(hours["account_id"].to_numpy())
        sizes = grouped.size()
        shrunk = (grouped.sum() + typical_log) / (sizes + 1)
        scores = relative_scores(-(shrunk - typical_log))
        medians = np.exp(grouped.median())
        for a, size, median, score in zip(shrunk.index.tolist(), sizes.tolist(), medians.tolist(), scores.tolist(),
                                          strict=True):
            out["resolution"][str(a)] = Component(
                "resolution", score, 0.0, size,
                f"tickets take {median:.0f} h to close (median of {size}; typical "
                f"{math.exp(typical_log):.0f} h)", {"median_hours": round(median, 1)})
    return out


def promise_component(promises: pd.DataFrame, h: Health) -> dict[str, Component]:
    """The share of promises (on-time deliveries) kept, shrunk towards the workspace's share."""
    if promises.empty:
        return {}
    typical = float(promises["on_time"].mean())
    grouped = promises.groupby("account_id")["on_time"]
    n, kept = grouped.size(), grouped.sum().astype(int)
    scores = relative_scores((kept + typical) / (n + 1))
    return {str(a): Component("promise", score, 0.0, na, f"{na - ka} of {na} deliveries late",
                              {"on_time": ka, "deliveries": na})
            for a, na, ka, score in zip(n.index.tolist(), n.tolist(), kept.tolist(), scores.tolist(), strict=True)}


def product_component(readings: pd.DataFrame, h: Health) -> dict[str, Component]:
    """Device readings against the same kind of device at other accounts (needs three accounts of a kind)."""
    rd = readings[readings["kind"].notna() & (readings["n"] > 0)]
    parts = []
    for _, grp in rd.groupby("kind"):
        if len(grp) < 3 or not float(grp["mean"].std()) > 0:
            continue
        z = (grp["mean"] - grp["mean"].mean()) / grp["mean"].std()
        parts.append(grp.assign(z=z if h.product.higher_is_worse else -z))
    if not parts:
        return {}
    zs = pd.concat(parts)
    per = zs.assign(zn=zs["z"] * zs["n"]).groupby("account_id").agg(zn=("zn", "sum"), n=("n", "sum"))
    z = per["zn"] / per["n"]  # the readings-weighted mean z of the account's kinds
    kinds: dict[str, list[str]] = {}
    for a, kind in zip(zs["account_id"].tolist(), zs["kind"].tolist(), strict=True):
        kinds.setdefault(a, []).append(kind)
    out = {}
    scores = (100 * stats.norm.sf(z)).tolist()
    for a, za, n, score in zip(per.index.tolist(), z.tolist(), per["n"].tolist(), scores, strict=True):
        side = "worse" if za > 0 else "better"
        out[str(a)] = Component(
            "product", score, 0.0, int(n),
            f"{', '.join(sorted(kinds[a]))} readings {abs(za):.1f} sd {side} than the same devices at other accounts"
            + (" (a sign of wear)" if za > 1 else ""), {"z": round(za, 2)})
    return out


def relative_scores(signal: pd.Series) -> pd.Series:
    """0-100 scores of a signal (higher is better) against the accounts' median and robust spread: 50 is typical."""
    centre = float(signal.median())
    z = (signal.to_numpy(dtype="float64") - centre) / _spread(signal)
    return pd.Series(100 * stats.norm.cdf(z), index=signal.index)


def account_health(inputs: HealthInputs, config: CxConfig) -> dict[str, AccountHealth]:
    """Health of every account with at least one component, keyed by account id."""
    h = config.health
    measures = config.measure_defs()
    weights = h.weights.model_dump()
    parts: dict[str, dict[str, Component]] = {}
    for measure in SAY:
        parts[measure] = say_component(inputs.answers, measure, measures[ANSWER_SCALES[measure]], h, inputs.as_of)
    parts["activity"] = activity_component(inputs.activity, h)
    parts.update(ticket_components(inputs, h))
    parts["promise"] = promise_component(inputs.promises, h)
    parts["product"] = product_component(inputs.readings, h)
    accounts = sorted({a for comp in parts.values() for a in comp})
    found: dict[str, list[Component]] = {a: [] for a in accounts}
    for name in (*SAY, *DO):  # each account's components in this order, weighted; unweighted ones left out
        weight = weights[name]
        if weight > 0:
            for a, c in parts[name].items():
                c.weight = weight
                found[a].append(c)
    total_weight = sum(weights.values())
    return {a: _combine(a, comps, total_weight) for a, comps in found.items()}


def _combine(account_id: str, comps: list[Component], total_weight: float) -> AccountHealth:
    """One account's health from its weighted components: the weighted mean, coverage, concerns then strengths."""
    if len(comps) == 1:  # most accounts: activity alone (the same sums as below, without the loops)
        c = comps[0]
        return AccountHealth(account_id, c.weight * c.score / c.weight, c.weight / total_weight, comps,
                             [c.reason] if c.tone != "neutral" else [])
    used = sum(c.weight for c in comps)
    health = sum(c.weight * c.score for c in comps) / used if used else None
    ordered = sorted(comps, key=lambda c: c.weight * (c.score - 50))
    reasons = [c.reason for c in ordered if c.tone == "concern"] + [
        c.reason for c in reversed(ordered) if c.tone == "strength"]
    return AccountHealth(account_id, health, used / total_weight, comps, reasons)


# ---------------------------------------------------------------------------------------------
# helpers


def _rows(expr: ir.Table) -> pd.DataFrame:
    """An expression's result as a frame, through Arrow.

    Ibis' ``execute`` turns every column holding a null into Python objects before building the
    frame, which costs more than the query on large results; Arrow converts them natively.
    """
    return expr.to_pyarrow().to_pandas()


def _spread(values: pd.Series) -> float:
    """A robust standard deviation (1.4826 MAD, else the sd); 1 when there is too little to tell."""
    if len(values) < 3:
        return 1.0
    mad = 1.4826 * float((values - values.median()).abs().median())
    if mad > 0:
        return mad
    sd = float(values.std())
    return sd if sd > 0 else 1.0


def _exposure_months(inputs: HealthInputs, h: Health) -> pd.Series:
    """Per account, months its active people could open tickets: since the account became a customer, within the lookback."""
    start = pd.Timestamp(inputs.as_of - timedelta(days=h.lookback_days))
    act = inputs.activity[(inputs.activity["lookback"] > 0) & inputs.activity["account_id"].notna()]
    frame = act[["contact_id", "account_id"]].merge(inputs.people[["contact_id", "first_seen"]], on="contact_id", how="left")
    frame = frame.merge(inputs.accounts[["account_id", "customer_since"]], on="account_id", how="left")
    seen, since = frame["first_seen"], frame["customer_since"]
    begin = seen.where(since.isna() | (seen >= since), since)  # the later of the two; missing when both are
    begin = begin.where(begin > start, start)
    months = ((pd.Timestamp(inputs.as_of) - begin).dt.total_seconds() / (_DAY * 30.4375)).clip(lower=0)
    return months.groupby(frame["account_id"]).sum()


def _resolution_hours(tickets: pd.DataFrame) -> pd.DataFrame:
    """Hours from each ticket's opening to its first closing after it (account_id, hours); bad clocks left out."""
    tk = tickets[tickets["ticket"].notna()]
    opened = tk[tk["type"] == "ticket_opened"].groupby(["account_id", "ticket"])["ts"].min()
    closed = tk[tk["type"] == "ticket_closed"].groupby(["account_id", "ticket"])["ts"].max()
    pairs = pd.concat({"opened": opened, "closed": closed}, axis=1).dropna()
    hours = (pairs["closed"] - pairs["opened"]).dt.total_seconds() / 3600.0
    hours = hours[hours > 0]
    return pd.DataFrame({"account_id": hours.index.get_level_values(0), "hours": hours.to_numpy()})
