"""A workspace's lead and account scores: rescore, explain, rank, train, and MQL handover.

The scoring core (``polku.scoring``) is pure; this module reads the workspace's tables,
stores the scores and every contact's incremental state (``store.scores``), from which
``polku.scoring.live`` keeps them moving with new events, and turns prospects whose score
crosses the MQL threshold into leads by appending a ``lead_qualified`` event carrying the
score and its reasons, so the stage history shows why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from polku import profiles
from polku.errors import ConfigError, NotFound
from polku.model import utcnow
from polku.store import scores as stored

if TYPE_CHECKING:
    from polku.scoring import ScoreCard, ScoringRules, TrainedModel
    from polku.workspace import Workspace

MODEL_FILE = "models/lead-model.pkl"


@dataclass(frozen=True)
class RescoreResult:
    """What a rescore did."""

    contacts: int
    accounts: int
    qualified: list[str]  # contacts made leads by crossing the MQL threshold
    with_model: bool
    as_of: datetime


class Leads:
    """Scores of one workspace; reached as ``Workspace.leads``."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # ---- rules and model --------------------------------------------------------------
    def rules(self) -> ScoringRules:
        """The ``scoring:`` section of polku.yaml, or the defaults."""
        from polku.scoring import load_scoring_rules
        from polku.workspace import CONFIG_FILE

        return load_scoring_rules(self.ws.home / CONFIG_FILE)

    @property
    def model_path(self) -> Path:
        """Where the trained model is kept."""
        return self.ws.home / MODEL_FILE

    def model(self) -> TrainedModel | None:
        """The trained model, if one was trained."""
        from polku.scoring import load_model

        return load_model(self.model_path) if self.model_path.exists() else None

    def train(self, *, as_of: datetime | None = None) -> dict[str, Any]:
        """Learn P(reaching the target stage within the horizon) from the workspace's history; save it."""
        from polku.scoring import save_model, train_model

        trained = train_model(self.ws.tables(), self.rules(), as_of=as_of)
        self.model_path.parent.mkdir(parents=True, exist_ok=True)
        save_model(trained, self.model_path)
        return self.report()

    def report(self) -> dict[str, Any]:
        """The saved model's training report (window, metrics against the rule score, calibration),
        with the state of the stored scores (``status``) and its warnings."""
        from polku.scoring import read_header

        if not self.model_path.exists():
            raise NotFound("no trained model yet (run `polku score train`)")
        return {**read_header(self.model_path), "stored_scores": self.status()}

    # ---- scoring -----------------------------------------------------------------------
    def rescore(self, *, as_of: datetime | None = None, qualify: bool = True) -> RescoreResult:
        """Score every contact and account; with ``qualify``, prospects at or over the threshold become leads.

        A rescore as of now also stores every contact's incremental state, from which the
        stored scores follow new events (``polku.scoring.live``); one as of a past time
        stores scores as of then, which stay so until the next rescore as of now.
        """
        from polku.scoring import live, rules_key, score_accounts, score_contacts
        from polku.scoring.account import probabilities

        current = as_of is None
        as_of = _utc(as_of) if as_of else utcnow()
        rules = self.rules()
        with live.of(self.ws).pause():  # refresh without catching states up: all are rebuilt below
            tables = self.ws.tables()
        scores = score_contacts(tables, rules, as_of)
        model = self.model()
        table = scores.to_arrow()
        probability = None
        if model is not None:
            predicted = model.predict(tables, as_of, everyone=True)
            probability = probabilities(predicted.probability, predicted.contact_id)
            table = table.append_column(
                "probability", pa.array(probability.reindex(scores.contact_id).to_numpy(), pa.float64())
            )
        accounts = score_accounts(scores, probability)
        cards = [accounts.card(str(a)).as_dict() for a in accounts.table.index]
        stored.replace(self.ws.store, table, cards, as_of, rules=rules if current else None, rules_key=rules_key(rules))
        qualified = self._qualify(scores, rules) if qualify else []
        return RescoreResult(len(scores), len(accounts), qualified, model is not None, as_of)

    def _qualify(self, scores: Any, rules: ScoringRules) -> list[str]:
        """Make each prospect whose score reached the threshold a lead (a lead_qualified event)."""
        from polku.scoring import live

        threshold = rules.mql_threshold
        if threshold is None:
            return []
        stage = {r["contact_id"]: r for r in self.ws.store.query("SELECT contact_id, stage, anchor FROM contacts")}
        made: list[tuple[str, str, ScoreCard]] = []
        for i in np.flatnonzero(scores.score >= threshold):
            cid = str(scores.contact_id[i])
            row = stage.get(cid)
            if row is not None and row["stage"] == "prospect":
                made.append((cid, str(row["anchor"]), scores.card(int(i))))
        live.of(self.ws).qualify(made)
        return [cid for cid, _, _ in made]

    def status(self) -> dict[str, Any]:
        """Whether stored scores follow new events, and anything they are waiting for."""
        from polku.scoring import live, rules_key

        store = self.ws.store
        meta = store.all_meta()
        following = meta.get(stored.STATE_RULES_META)
        counts = stored.state_counts(store)
        try:
            current = rules_key(live.of(self.ws).current_rules())
        except ConfigError as exc:
            current, problem = None, exc.message
        else:
            problem = None
        other = sum(n for k, n in counts.items() if k != current)
        warnings = []
        if problem is not None:
            warnings.append(f"the scoring rules cannot be read: {problem}")
        elif following is not None and following != current:
            warnings.append(f"{other:,} stored score states were built with other rules; they are not updated "
                            "until `polku score` rebuilds them with the current rules")
        if following is None:
            warnings.append("stored scores do not follow new events yet: run `polku score`")
        if meta.get(stored.STALE_META):
            warnings.append(f"stored scores lag the log: {meta[stored.STALE_META]}")
        behind = json.loads(meta.get(stored.ACCOUNTS_BEHIND_META) or "null")
        if behind:
            warnings.append(f"{behind['count']:,} large accounts are rolled up at the next `polku score`")
        return {
            "follows_events": following is not None and following == current,
            "rules_key": current, "states": sum(counts.values()), "states_with_other_rules": other,
            "stale": meta.get(stored.STALE_META), "accounts_behind": behind, "warnings": warnings,
        }

    def contact(self, key: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        """One contact's score card now, with reasons, computed from its own touchpoints (no full rescore)."""
        from polku.scoring import read_score, state_from_touches

        store = self.ws.fresh_store()
        cid = profiles.find_contact_id(store, key)
        rules = self.rules()
        touches, traits, account_id = stored.touches_of(store, cid)
        at = _utc(as_of) if as_of else utcnow()
        if as_of is not None:
            touches = [t for t in touches if t.ts <= at]
        elif touches:
            at = max(at, max(t.ts for t in touches))  # a touchpoint stamped ahead of the clock
        state = state_from_touches(cid, touches, rules, account_id=account_id, traits=traits)
        card = read_score(state, rules, at)
        out = card.as_dict()
        saved = stored.contact_row(store, cid)
        out["probability"] = None if saved is None else saved.get("probability")
        out["rescored_at"] = None if saved is None else saved["scored_at"]
        return out

    def account(self, key: str) -> dict[str, Any]:
        """One account's stored score (rolled up again by the refresh this runs first when its
        contacts' scores moved): roll-up, buying-group coverage, reasons."""
        store = self.ws.fresh_store()
        account_id = self.ws.account(key, limit=1)["account"]["account_id"]
        row = stored.account_row(store, account_id)
        if row is None:
            raise NotFound(f"account {key!r} has no score yet (run `polku score`)")
        return row

    def ranked(self, *, min_score: float = 0.0, limit: int = 50, stage: str | None = None) -> list[dict[str, Any]]:
        """Contacts by stored score, highest first (scores move with each new event of a known contact)."""
        return stored.ranked(self.ws.store, min_score=min_score, limit=limit, stage=stage)


def _utc(ts: datetime) -> datetime:
    """A naive time read as UTC; an aware one converted to UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
