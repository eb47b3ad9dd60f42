"""A workspace's lead and account scores: rescore, explain, rank, train, and MQL handover.

The scoring core (``polku.scoring``) is pure; this module reads the workspace's tables,
stores the scores (``store.scores``) and turns prospects whose score crosses the MQL
threshold into leads by appending a ``lead_qualified`` event carrying the score and its
reasons, so the stage history shows why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from polku import profiles
from polku.errors import NotFound
from polku.model import identity_fields, utcnow
from polku.store import scores as stored

if TYPE_CHECKING:
    from polku.scoring import ScoringRules, TrainedModel
    from polku.workspace import Workspace

MODEL_FILE = "models/lead-model.pkl"
MQL_SOURCE = "scoring"


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
        """The saved model's training report (window, metrics against the rule score, calibration)."""
        from polku.scoring import read_header

        if not self.model_path.exists():
            raise NotFound("no trained model yet (run `polku score train`)")
        return read_header(self.model_path)

    # ---- scoring -----------------------------------------------------------------------
    def rescore(self, *, as_of: datetime | None = None, qualify: bool = True) -> RescoreResult:
        """Score every contact and account; with ``qualify``, prospects at or over the threshold become leads."""
        from polku.scoring import score_accounts, score_contacts
        from polku.scoring.account import probabilities

        as_of = _utc(as_of) if as_of else utcnow()
        rules = self.rules()
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
        stored.replace(self.ws.store, table, cards, as_of)
        qualified = self._qualify(scores, rules) if qualify else []
        return RescoreResult(len(scores), len(accounts), qualified, model is not None, as_of)

    def _qualify(self, scores: Any, rules: ScoringRules) -> list[str]:
        """Append a lead_qualified event for each prospect whose score reached the threshold."""
        threshold = rules.mql_threshold
        if threshold is None:
            return []
        stage = {r["contact_id"]: r for r in self.ws.store.query("SELECT contact_id, stage, anchor FROM contacts")}
        made: list[str] = []
        for i in np.flatnonzero(scores.score >= threshold):
            cid = str(scores.contact_id[i])
            row = stage.get(cid)
            if row is None or row["stage"] != "prospect":
                continue
            card = scores.card(int(i))
            reasons = "; ".join(r.text for r in card.reasons)
            self.ws.track(
                "lead_qualified", "crm", **identity_fields(str(row["anchor"])), ts=scores.as_of.isoformat(),
                event_id=f"mql-{cid}-{scores.as_of:%Y%m%d%H%M%S}",
                properties={"reason": f"score {card.score:.0f} ({card.grade}): {reasons}", "score": card.score,
                            "grade": card.grade, "source": MQL_SOURCE},
            )
            made.append(cid)
        return made

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
        """One account's score as of the last rescore: roll-up, buying-group coverage, reasons."""
        store = self.ws.fresh_store()
        account_id = self.ws.account(key, limit=1)["account"]["account_id"]
        row = stored.account_row(store, account_id)
        if row is None:
            raise NotFound(f"account {key!r} has no score yet (run `polku score`)")
        return row

    def ranked(self, *, min_score: float = 0.0, limit: int = 50, stage: str | None = None) -> list[dict[str, Any]]:
        """Contacts by score, highest first, as of the last rescore."""
        return stored.ranked(self.ws.store, min_score=min_score, limit=limit, stage=stage)


def _utc(ts: datetime) -> datetime:
    """A naive time read as UTC; an aware one converted to UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
