"""Paths and journey maps: what comes next (or before) a chosen touchpoint, as counts per
step and a Sankey-ready structure; all next-step transitions; and the journey phase of
each touchpoint.

Journeys are ordered by ``ts`` then ``seq``. A node is a touchpoint type, or
``channel:type`` with ``node_by="channel_type"``. Collapsing repeats turns ``a a b`` into
``a b`` (a touchpoint equal to the one before it is skipped; for anchored paths the anchor
counts as the one before the first step).

Anchored paths (``PathsQuery``) count each journey once, from its first touchpoint that
matches ``start`` inside the date range (or from its first touchpoint of all when no
``start`` is given). Step 1 is the touchpoint right after it (``direction="next"``) or
right before it (``"previous"``); steps go up to ``steps`` away. Per step, the
``max_nodes`` most frequent nodes are kept and the rest are summed as ``(other)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field, field_validator

from polku.analytics.query import (
    DateRange,
    EventFilter,
    check_event_types,
    NodeBy,
    Subject,
    earliest,
    entity_touchpoints,
    node_expr,
    node_name,
    stage_entries,
    stage_rank,
    to_frame,
)
from polku.analytics.tables import Tables
from polku.model import STAGE_RANK, JourneyStage

__all__ = ["OTHER", "PathsQuery", "PathsResult", "paths", "transitions", "with_phase"]

OTHER: Final = "(other)"


class PathsQuery(DateRange):
    """An anchored paths request: from which touchpoint, which way, how many steps."""

    start: EventFilter | None = Field(None, description="anchor; default the journey's first touchpoint")
    direction: Literal["next", "previous"] = "next"
    steps: int = Field(3, ge=1, le=10)
    node_by: NodeBy = "type"
    collapse_repeats: bool = False
    exclude: list[str] = Field(
        default_factory=list, max_length=100, description="touchpoint types left out of paths"
    )
    max_nodes: int = Field(10, ge=1, le=100, description="nodes kept per step; the rest are (other)")
    subject: Subject = "contact"

    @field_validator("exclude")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return check_event_types(value)

    def run(self, tables: Tables) -> PathsResult:
        """Count the anchored paths and lay them out per step."""
        a = self.anchors(tables)
        starts = to_frame(a.group_by(node=a.anchor).aggregate(count=a.count()))
        anchored = int(starts["count"].sum())
        nodes, links = _layout(self, to_frame(self.links(tables)), starts)
        warnings = () if anchored else (_no_anchor(self),)
        return PathsResult(query=self, anchored=anchored, nodes=nodes, links=links, warnings=warnings)

    def anchors(self, tables: Tables) -> ir.Table:
        """Per journey, its anchor touchpoint: entity, last_ts, last_sub (its seq), anchor node."""
        tp = _touchpoints(tables, self.subject, self.exclude)
        hits = tp.filter(self.in_range(tp.ts))
        if self.start is not None:
            hits = hits.filter(self.start.predicate(hits))
        node = node_expr(hits, self.node_by)
        return earliest(hits.mutate(node=node), lambda t: t.seq, anchor=lambda t: t.node.min())

    def steps_table(self, tables: Tables) -> ir.Table:
        """The touchpoints on each anchored path: entity, step (1..steps), node, source node."""
        tp = _touchpoints(tables, self.subject, self.exclude)
        tp = tp.mutate(node=node_expr(tp, self.node_by))
        anchors = self.anchors(tables)
        j = tp.join(anchors, "entity")
        forward = self.direction == "next"
        if forward:
            j = j.filter((j.ts > j.last_ts) | ((j.ts == j.last_ts) & (j.seq > j.last_sub)))
        else:
            j = j.filter((j.ts < j.last_ts) | ((j.ts == j.last_ts) & (j.seq < j.last_sub)))

        def path_order(t: ir.Table) -> ibis.expr.builders.LegacyWindowBuilder:
            keys = [t.ts, t.seq] if forward else [ibis.desc(t.ts), ibis.desc(t.seq)]
            return ibis.window(group_by=t.entity, order_by=keys)

        if self.collapse_repeats:
            j = j.filter(j.node != j.node.lag().over(path_order(j)).fill_null(j.anchor))
        w = path_order(j)
        j = j.mutate(step=ibis.row_number().over(w) + 1, source=j.node.lag().over(w).fill_null(j.anchor))
        return j.filter(j.step <= self.steps).select("entity", "step", "node", "source")

    def links(self, tables: Tables) -> ir.Table:
        """Journeys per (step, source node, node): the raw counts behind the layout."""
        s = self.steps_table(tables)
        return s.group_by(["step", "source", "node"]).aggregate(count=s.count())


@dataclass(frozen=True)
class PathsResult:
    """Anchored paths: nodes (step, node, count, share) and links, ready for a Sankey diagram.

    Step 0 is the anchor. For ``direction="previous"`` steps are negative (-1 is right
    before the anchor) and links still run from lower to higher step, towards the anchor.
    """

    query: PathsQuery
    anchored: int
    nodes: pd.DataFrame
    links: pd.DataFrame
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the query, counts, node and link rows, the Sankey lists and warnings."""
        return {
            "query": self.query.model_dump(mode="json"),
            "anchored": self.anchored,
            "nodes": self.nodes.to_dict(orient="records"),
            "links": self.links.to_dict(orient="records"),
            "sankey": self.sankey(),
            "warnings": list(self.warnings),
        }

    def sankey(self) -> dict[str, list[dict[str, Any]]]:
        """Nodes with ids ('<step>:<node>') and links between them, as JSON-ready lists."""
        nodes = [
            {"id": f"{r.step}:{r.node}", "name": r.node, "step": int(r.step), "count": int(r.count)}
            for r in self.nodes.itertuples()
        ]
        links = [
            {
                "source": f"{r.source_step}:{r.source}", "target": f"{r.target_step}:{r.target}",
                "source_step": int(r.source_step), "target_step": int(r.target_step), "value": int(r.count),
            }
            for r in self.links.itertuples()
        ]
        return {"nodes": nodes, "links": links}


def paths(
    tables: Tables, start: str | dict[str, Any] | EventFilter | None = None, *,
    direction: Literal["next", "previous"] = "next", steps: int = 3, node_by: NodeBy = "type",
    collapse_repeats: bool = False, subject: Subject = "contact",
    date_from: datetime | None = None, date_to: datetime | None = None,
) -> PathsResult:
    """Notebook form of ``PathsQuery``: a plain string start is an event type."""
    return PathsQuery.model_validate(
        {
            "start": {"event": start} if isinstance(start, str) else start,
            "direction": direction, "steps": steps, "node_by": node_by,
            "collapse_repeats": collapse_repeats, "subject": subject,
            "date_from": date_from, "date_to": date_to,
        }
    ).run(tables)


def transitions(
    tables: Tables, *, subject: Subject = "contact", node_by: NodeBy = "type",
    collapse_repeats: bool = False, exclude: list[str] | tuple[str, ...] = (),
    source: str | None = None, target: str | None = None,
) -> pd.DataFrame:
    """Every next-step transition over all journeys: source, target, count, share of source.

    ``source``/``target`` keep only the transitions out of (into) one node: the most
    common next (previous) touchpoints of that node. With ``collapse_repeats`` a
    touchpoint followed by its own kind is not a transition.
    """
    expr = transition_counts(tables, subject=subject, node_by=node_by, exclude=list(exclude))
    if collapse_repeats:
        expr = expr.filter(expr.source != expr.target)
    totals = expr.group_by("source").aggregate(out=expr["count"].sum())
    if source is not None:
        expr = expr.filter(expr.source == source)
    if target is not None:
        expr = expr.filter(expr.target == target)
    expr = expr.join(totals, "source")
    frame = to_frame(expr.select("source", "target", "count", "out"))
    frame["share"] = frame["count"] / frame["out"]
    frame = frame.drop(columns="out").sort_values(["count", "source", "target"], ascending=[False, True, True])
    return frame.reset_index(drop=True)


def transition_counts(
    tables: Tables, *, subject: Subject = "contact", node_by: NodeBy = "type", exclude: list[str] | None = None
) -> ir.Table:
    """Counts of consecutive (source, target) touchpoints in every journey (an expression).

    Contact journeys with nothing excluded read the transition counts a store keeps at
    refresh time (``Tables.transitions()``); other shapes order the touchpoints here
    (``window_transition_counts``). Both give the same counts.
    """
    if subject == "contact" and not exclude:
        return _stored_transition_counts(tables, node_by)
    return window_transition_counts(tables, subject=subject, node_by=node_by, exclude=exclude)


def window_transition_counts(
    tables: Tables, *, subject: Subject = "contact", node_by: NodeBy = "type", exclude: list[str] | None = None
) -> ir.Table:
    """``transition_counts`` computed by ordering every journey's touchpoints (any shape)."""
    tp = _touchpoints(tables, subject, exclude or [])
    tp = tp.mutate(node=node_expr(tp, node_by))
    w = ibis.window(group_by=tp.entity, order_by=[tp.ts, tp.seq])
    pairs = tp.select(source=tp.node, target=tp.node.lead().over(w))
    pairs = pairs.filter(pairs.target.notnull())
    return pairs.group_by(["source", "target"]).aggregate(count=pairs.count())


def _stored_transition_counts(tables: Tables, node_by: NodeBy) -> ir.Table:
    """``transition_counts`` of contact journeys from the journey transitions table."""
    t = tables.transitions()
    pairs = t.select(
        source=node_name(t.source_type, t.source_channel, node_by),
        target=node_name(t.target_type, t.target_channel, node_by),
        n=t["count"],
    )
    return pairs.group_by(["source", "target"]).aggregate(count=pairs.n.sum())


def with_phase(tables: Tables, subject: Subject = "contact") -> ir.Table:
    """The touchpoints with a ``phase`` column: pre_purchase, purchase or post_purchase.

    Pre-purchase is before the entity's first entry into opportunity (or a later stage),
    purchase from then until its first customer entry, post-purchase from that on; the
    intervals are half-open, so the touchpoint that made a contact an opportunity is in
    the purchase phase. At account level the account's own stage history is used; a
    touchpoint without an account has no phase there (null).
    """
    st = stage_entries(tables, subject, None)
    st = st.mutate(rank=stage_rank(st.stage))
    marks = st.group_by("entity").aggregate(
        purchase_ts=st.ts.min(where=st.rank >= STAGE_RANK["opportunity"]),
        post_ts=st.ts.min(where=st.rank >= STAGE_RANK["customer"]),
    )
    tp = tables.touchpoints
    key = "contact_id" if subject == "contact" else "account_id"
    j = tp.left_join(marks, tp[key] == marks.entity)
    phase = (
        ibis.cases(
            (j.post_ts.notnull() & (j.ts >= j.post_ts), JourneyStage.post_purchase.value),
            (j.purchase_ts.notnull() & (j.ts >= j.purchase_ts), JourneyStage.purchase.value),
            else_=JourneyStage.pre_purchase.value,
        )
    )
    phase = ibis.cases((j[key].isnull(), ibis.literal(None, "string")), else_=phase)
    return j.select(*tp.columns, phase=phase)


# ---------------------------------------------------------------------------------------
# helpers


def _top(counts: pd.DataFrame, n: int) -> set[str]:
    """The ``n`` nodes with the largest counts (ties by name)."""
    ordered = counts.sort_values(["count", "node"], ascending=[False, True])
    return set(ordered["node"].head(n))


def _touchpoints(tables: Tables, subject: Subject, exclude: list[str]) -> ir.Table:
    tp = entity_touchpoints(tables, subject)
    return tp.filter(tp.type.notin(exclude)) if exclude else tp


def _no_anchor(q: PathsQuery) -> str:
    what = f"a '{q.start.describe()}' touchpoint" if q.start else "a touchpoint"
    scope = " in the date range" if q.date_from or q.date_to else ""
    return f"no {q.subject} has {what}{scope}"


def _layout(q: PathsQuery, rows: pd.DataFrame, starts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and links per step, the smaller nodes of each step summed as (other)."""
    sign = 1 if q.direction == "next" else -1
    anchored = int(starts["count"].sum())
    kept = {0: _top(starts, q.max_nodes)}
    per_step = rows.groupby(["step", "node"])["count"].sum().reset_index()
    for step, group in per_step.groupby("step"):
        kept[int(step)] = _top(group, q.max_nodes)
    data = rows.copy()
    data["node"] = [n if n in kept.get(s, set()) else OTHER for s, n in zip(data["step"], data["node"], strict=True)]
    data["source"] = [
        n if n in kept.get(s - 1, set()) else OTHER for s, n in zip(data["step"], data["source"], strict=True)
    ]
    data = data.groupby(["step", "source", "node"], as_index=False)["count"].sum()
    nodes = data.groupby(["step", "node"], as_index=False)["count"].sum()
    first = starts.assign(node=[n if n in kept[0] else OTHER for n in starts["node"]])
    first = first.groupby("node", as_index=False)["count"].sum().assign(step=0)
    nodes = pd.concat([first[["step", "node", "count"]], nodes], ignore_index=True)
    nodes["step"] = nodes["step"].astype("int64") * sign
    nodes["share"] = nodes["count"] / anchored if anchored else float("nan")
    nodes = nodes.sort_values(["step", "count", "node"], ascending=[sign > 0, False, True], ignore_index=True)
    links = pd.DataFrame(
        {
            "source_step": (data["step"] - 1) * sign,
            "source": data["source"],
            "target_step": data["step"] * sign,
            "target": data["node"],
            "count": data["count"].astype("int64"),
        }
    )
    if sign < 0:  # links run towards the anchor: from the earlier touchpoint to the later one
        links = links.rename(
            columns={"source_step": "target_step", "source": "target", "target_step": "source_step", "target": "source"}
        )[["source_step", "source", "target_step", "target", "count"]]
    links = links.sort_values(["source_step", "count", "source", "target"], ascending=[True, False, True, True])
    return nodes, links.reset_index(drop=True)
