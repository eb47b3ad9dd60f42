"""The tick: enrol whoever a trigger caught, note reached goals, and advance every due enrolment.

A tick is a few transactions, each over whole sets (see ``polku.store.nurture``): sync the
definitions, enrol, record goals, then advance in rounds until no enrolment is due. Every
send is written to the outbox in the same transaction that moves its enrolment past the
step, so a step's message exists exactly once however often a tick is cut short and rerun.
Delivery is separate (``polku.nurture.delivery``).

Each unit of work is handed to a ``Runner``: the CLI runs it directly; the server hands it
to its single writer thread, so the tick never competes with API writes for the file.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

from polku.model import utcnow
from polku.nurture import logevents
from polku.nurture.conditions import Condition, lit
from polku.nurture.content import canonical
from polku.nurture.definitions import STAGE_EVENTS, EventTrigger, Journey, ManualTrigger, ScoreTrigger, SegmentTrigger, StageTrigger
from polku.nurture.loader import Definitions, load_definitions
from polku.nurture.tokens import ensure_secret
from polku.store import nurture as sql
from polku.store.duck import DuckStore

if TYPE_CHECKING:
    from polku.workspace import Workspace

T = TypeVar("T")
Runner = Callable[[Callable[[], T]], T]
ScoreSource = Callable[[DuckStore], pa.Table | None]


def run_direct(job: Callable[[], T]) -> T:
    """Run a unit of work in this thread (the CLI owns the workspace alone)."""
    return job()


@dataclass
class TickResult:
    """What one tick did."""

    now: datetime
    enrolled: int = 0
    steps: int = 0
    queued: int = 0
    active: int = 0
    rounds: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


class Engine:
    """Runs ticks over one workspace; one tick at a time."""

    def __init__(self, ws: Workspace, *, run: Runner[Any] = run_direct, scores: ScoreSource | None = None) -> None:
        self.ws = ws
        self.run = run
        self.scores = scores
        self._lock = threading.Lock()

    @property
    def store(self) -> DuckStore:
        """The workspace's store."""
        return self.ws.store

    def tick(self, now: datetime | None = None, *, definitions: Definitions | None = None) -> TickResult:
        """Advance everything due at ``now`` (default: the current time), once."""
        with self._lock:
            started = time.perf_counter()
            defs = definitions if definitions is not None else load_definitions(self.ws.home)
            now = now or utcnow()
            result = TickResult(now=now)
            before = sql.totals(self.store)
            active = [j for j in defs.journeys.values() if j.status == "active"]
            try:
                self.run(lambda: self._prepare(defs, active, now, result))
                limit = max((len(j.steps) for j in active), default=0) + 2
                for round_no in range(limit):
                    self.run(lambda first=round_no == 0: self._advance(defs, active, now, first))
                    result.rounds += 1
                    if not sql.due_count(self.store, [j.id for j in active], now):
                        break
            finally:
                self.run(lambda: sql.drop_scratch(self.store))
            after = sql.totals(self.store)
            result.enrolled, result.steps, result.queued = (after[k] - before[k] for k in ("enrolled", "steps", "queued"))
            result.active = after["active"]
            result.seconds = time.perf_counter() - started
            return result

    # ---- preparing: definitions, scratch tables, enrolment, goals ---------------------------------

    def _prepare(self, defs: Definitions, active: list[Journey], now: datetime, result: TickResult) -> None:
        self.ws.refresh()
        store = self.store
        with store.transaction():
            ensure_secret(store)
            sql.sync_journeys(store, [_journey_row(j, defs.sources.get(j.id)) for j in defs.journeys.values()], now)
            sql.sync_content(store, [
                {"version": i.template.version, "content_id": i.template.id, "definition": canonical(i.template)}
                for i in defs.library.items
            ], now)
            steps, splits = _plan(active)
            variants = [
                {"template_id": i.template.id, "version": i.template.version, "language": i.template.language,
                 "roles": ",".join(r.value for r in i.template.roles) if i.template.roles else None, "pos": n}
                for n, i in enumerate(defs.library.items)
            ]
            sql.load_plan(store, steps, splits, variants)
            sql.exit_orphans(store, now)
        scores = self.scores(store) if self.scores is not None else None
        if scores is None and any(_uses_scores(j) for j in active):
            result.warnings.append("no score source is connected: score triggers and conditions are false")
        with store.transaction():
            horizon = self._horizon(defs, active, now)
            sql.prepare_scratch(store, now=now, horizon=horizon, types=sorted(_event_types(defs)), scores=scores)
        with store.transaction():
            self._enrol(active, defs, now)
        with store.transaction():
            sql.record_goals(store, [
                {"journey_id": j.id, "types": j.goal.types(), "stage": j.goal.stage, "within": j.goal.within,
                 "topics": [j.goal.topic] if isinstance(j.goal.topic, str) else j.goal.topic}
                for j in defs.journeys.values() if j.goal is not None
            ], now)

    def _horizon(self, defs: Definitions, active: list[Journey], now: datetime) -> datetime | None:
        """How far back events matter this tick: open enrolments and goal windows, and entry conditions' lookback."""
        longest = max((j.goal.within for j in defs.journeys.values() if j.goal is not None), default=0)
        earliest = sql.horizon(self.store, now, longest)
        for j in active:
            for cond in _entry_conditions(j):
                back = cond.lookback()
                if back is None:
                    return None
                bound = now - timedelta(seconds=back)
                earliest = bound if earliest is None else min(earliest, bound)
        return earliest or now

    def _enrol(self, active: list[Journey], defs: Definitions, now: datetime) -> None:
        store = self.store
        states = sql.journey_states(store)
        upto = store.last_seq
        sql.start_candidates(store)
        events: list[tuple[str, str, int | None, datetime | None]] = []
        levels: list[tuple[str, str, str, bool]] = []
        for j in active:
            state = states.get(j.id, {})
            first = state.get("event_cursor") is None
            trigger = j.trigger
            if isinstance(trigger, EventTrigger):
                since = now - timedelta(seconds=trigger.lookback) if first and trigger.lookback else None
                events.append((j.id, _event_predicate(trigger), state.get("event_cursor"), since))
            elif not isinstance(trigger, ManualTrigger):
                cond, label = _level_condition(trigger)
                levels.append((j.id, cond.sql(now), label, not (first and trigger.existing == "skip")))
        sql.event_candidates(store, events, upto)
        sql.level_candidates(store, levels)
        sql.request_candidates(store, [j.id for j in active])
        sql.group_candidates(store, [
            {"journey_id": j.id, "priority": j.priority, "exclusive": j.exclusive, "first_step": j.steps[0].id,
             "delay_s": _arrival_delay(j, 0)} for j in active
        ])
        opt_in = defs.policy.consent == "opt_in"
        marketing = [j for j in active if j.sends_marketing()]
        for batch in (
            [(j.id, _requires_sql(j, now), "lacks " + ", ".join(j.audience.requires) + " (audience.requires)")
             for j in active if j.audience.requires],
            [(j.id, j.audience.where.sql(now), "not in the journey's audience") for j in active if j.audience.where is not None],
            [(j.id, "x.c_email IS NOT NULL", "no e-mail address") for j in marketing],
            [(j.id, sql.consent_sql(opt_in), "no consent to marketing e-mail" if opt_in else "unsubscribed") for j in marketing],
        ):
            sql.reject_candidates(store, batch)
        sql.reject_by_history(store, [(j.id, j.reentry, j.goal.within if j.goal else 30 * 86400) for j in active], now)
        sql.assign_arms(store, [(j.id, j.holdout_seed, j.holdout) for j in active])
        sql.resolve_priorities(store, now)
        sql.insert_enrolments(store, now)
        sql.close_requests(store, [j.id for j in active], list(defs.journeys), now)
        sql.set_cursors(store, [j.id for j in active], upto)

    # ---- advancing --------------------------------------------------------------------------------

    def _advance(self, defs: Definitions, active: list[Journey], now: datetime, first: bool) -> None:
        from polku.cx.surveys import journeys as survey_links  # survey steps (imported here: cx imports nurture)

        store = self.store
        stage_types = {(j.id, s.id): STAGE_EVENTS[s.set_stage] for j in active for s in j.steps if s.set_stage is not None}
        stage_rows = sql.stage_step_rows(store, now, list(stage_types))
        sender = {**defs.policy.sender.model_dump(by_alias=True), "domain": defs.policy.sender.domain,
                  "default_language": defs.policy.default_language}
        tracking = defs.policy.tracking_url or self._default_tracking_url()
        policy = defs.policy
        invites = survey_links.prepare(self.ws, now, survey_links.survey_steps(active), tracking)
        with store.transaction():
            sql.build_due(store, now, check_waits=first)
            sql.moves_simple(store, now)
            sql.moves_split(store, now)
            sql.moves_branch(store, [(j.id, s.id, s.branch.if_.sql(now)) for j in active for s in j.steps if s.branch], now)
            sql.moves_wait_for(store, [(j.id, s.id, s.wait_for.until.sql(now)) for j in active for s in j.steps if s.wait_for], now)
            sql.send_candidates(store, now, opt_in=policy.consent == "opt_in")
            if policy.quiet_hours is not None:
                sql.apply_quiet_hours(store, now, policy.quiet_hours.start.isoformat(), policy.quiet_hours.end.isoformat(),
                                      policy.timezone)
            if policy.frequency_cap is not None:
                sql.apply_frequency_cap(store, now, policy.frequency_cap.messages, policy.frequency_cap.per)
            sql.queue_sends(store, now, sender=sender, tracking_url=tracking)
            survey_links.attach(store, invites)
            sql.queue_notifications(store, now, sender=sender, tracking_url=tracking)
            sql.queue_webhooks(store, now, sender=sender, tracking_url=tracking)
            sql.queue_enrol_requests(store, now)
            logevents.append(store, [_stage_event(r, stage_types[(r['journey_id'], r['step_id'])], now) for r in stage_rows])
            sql.apply_moves(store, now)

    def _default_tracking_url(self) -> str:
        from polku.config import Settings

        settings = Settings()
        return f"http://{settings.host}:{settings.port}"


# ---- turning definitions into the tick's tables ------------------------------------------------------


def _journey_row(j: Journey, source: str | None) -> dict[str, Any]:
    definition = j.model_dump_json(by_alias=True, exclude_none=True)
    return {
        "journey_id": j.id, "version": hashlib.sha256(definition.encode()).hexdigest()[:16], "name": j.title,
        "priority": j.priority, "status": j.status, "definition": definition, "source": source, "exclusive": j.exclusive,
    }


def _arrival_delay(j: Journey, index: int) -> int:
    """Seconds from arriving at a step until it is due (a wait's length, a wait_for's timeout)."""
    step = j.steps[index]
    if step.wait is not None:
        return int(step.wait)
    if step.wait_for is not None:
        return int(step.wait_for.timeout)
    return 0


def _plan(active: list[Journey]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the steps and split-arms tables."""
    steps, splits = [], []
    for j in active:
        for i, s in enumerate(j.steps):
            succ = j.successors(i)
            nxt = succ.get("then", succ.get("event", succ.get("next")))
            alt = succ.get("else", succ.get("timeout"))
            param: str | None = None
            if s.set_stage is not None:
                param = STAGE_EVENTS[s.set_stage]
            elif s.enrol is not None:
                param = s.enrol
            elif s.exit is not None:
                param = s.exit if isinstance(s.exit, str) else None
            elif s.webhook is not None:
                param = s.webhook.url
            elif s.notify_owner is not None:
                param = s.notify_owner.fallback
            template = s.send or (s.notify_owner.template if s.notify_owner else None)
            steps.append({
                "journey_id": j.id, "step_id": s.id, "kind": s.kind, "delay_s": _arrival_delay(j, i), "nxt": nxt,
                "alt": alt, "template_id": template, "param": param, "journey_name": j.title, "priority": j.priority,
                "seed": j.holdout_seed,
            })
            if s.split is not None:
                total = sum(v.weight for v in s.split)
                lo = 0.0
                for n, v in enumerate(s.split):
                    hi = 1.0 if n == len(s.split) - 1 else lo + v.weight / total
                    splits.append({"journey_id": j.id, "step_id": s.id, "variant": v.name, "lo": lo, "hi": hi,
                                   "nxt": succ[v.name]})
                    lo = hi
    return steps, splits


def _requires_sql(j: Journey, now: datetime) -> str:
    """A predicate over x: every trait the journey's audience requires is present."""
    conds = [
        Condition.model_validate({"trait" if name.startswith("contact.") else "account": name.partition(".")[2], "present": True})
        for name in j.audience.requires
    ]
    return " AND ".join(c.sql(now) for c in conds)


def _event_predicate(t: EventTrigger) -> str:
    parts = [f"e.type = {lit(t.event)}"]
    if t.topic is not None:
        topics = [t.topic] if isinstance(t.topic, str) else t.topic
        parts.append("e.topic IN (" + ", ".join(lit(x) for x in topics) + ")")
    if t.channel is not None:
        parts.append(f"e.channel = {lit(t.channel.value)}")
    return " AND ".join(parts)


def _level_condition(t: StageTrigger | ScoreTrigger | SegmentTrigger) -> tuple[Condition, str]:
    if isinstance(t, StageTrigger):
        stage = t.stage if isinstance(t.stage, str) else t.stage.model_dump(by_alias=True, exclude_none=True)
        return Condition.model_validate({"stage": stage}), "reached stage"
    if isinstance(t, ScoreTrigger):
        return Condition.model_validate({"score": {"at_least": t.score}}), f"score reached {t.score:g}"
    return t.segment, "entered the segment"


def _entry_conditions(j: Journey) -> list[Condition]:
    out = [j.audience.where] if j.audience.where is not None else []
    if isinstance(j.trigger, SegmentTrigger):
        out.append(j.trigger.segment)
    return out


def _uses_scores(j: Journey) -> bool:
    conds = _entry_conditions(j) + [c for s in j.steps for c in s.conditions()]
    return isinstance(j.trigger, ScoreTrigger) or any(c.uses_scores() for c in conds)


def _event_types(defs: Definitions) -> set[str]:
    types: set[str] = set()
    for j in defs.journeys.values():
        for cond in _entry_conditions(j) + [c for s in j.steps for c in s.conditions()]:
            types |= cond.event_types()
        if j.goal is not None:
            types.update(j.goal.types())
    return types


def _stage_event(row: dict[str, Any], event_type: str, now: datetime) -> dict[str, Any]:
    """The event a set_stage step appends; its id is the step's, so a rerun appends nothing."""
    ids = logevents.identity_columns(row["crm_id"], row["email"], row["anchor"])
    journey, step = row["journey_id"], row["step_id"]
    return logevents.event_row(
        f"nurture:{row['enrolment_id']}.{step}", now, event_type, "crm", ids,
        {"reason": f"nurture journey {journey}, step {step}", "journey": journey, "step": step},
        account_id=row["account_id"],
    )
