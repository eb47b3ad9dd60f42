"""A trained lead-score model and what it says about contacts: probabilities and reasons
(``polku.scoring.explain`` words them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from polku.analytics.tables import Tables
from polku.scoring import features as F
from polku.scoring.explain import model_reasons
from polku.scoring.model import LeadScoreModel
from polku.scoring.reasons import Reason
from polku.scoring.report import TrainingReport
from polku.scoring.rules import ModelSettings


@dataclass(frozen=True)
class ModelScores:
    """Model probabilities of many contacts, with their features for explanations."""

    trained: TrainedModel
    as_of: datetime
    frame: pd.DataFrame  # contact_id, account_id, employees and the features
    probability: npt.NDArray[np.float64]

    def __len__(self) -> int:
        """Number of contacts scored."""
        return len(self.frame)

    @property
    def contact_id(self) -> npt.NDArray[np.object_]:
        """Contact ids in row order."""
        return self.frame["contact_id"].to_numpy(dtype=object)

    def position(self, contact_id: str) -> int:
        """The row of a contact (KeyError if it was not scored)."""
        hits = np.flatnonzero(self.contact_id == contact_id)
        if not len(hits):
            raise KeyError(contact_id)
        return int(hits[0])

    def reasons(self, rows: list[int] | None = None, k: int = 3) -> list[tuple[Reason, ...]]:
        """Reasons for the given rows (all when None)."""
        rows = list(range(len(self))) if rows is None else rows
        sub = self.frame.iloc[rows]
        contrib = self.trained.estimator.contributions(sub[self.trained.spec.names()])
        return [model_reasons(contrib.iloc[i], sub.iloc[i], self.trained.spec, k) for i in range(len(rows))]

    def to_arrow(self, *, reasons: bool = False, k: int = 3) -> pa.Table:
        """Probabilities (and reason texts when asked) as a table, for storage."""
        cols: dict[str, Any] = {
            "contact_id": pa.array(self.contact_id, pa.string()),
            "account_id": pa.array(self.frame["account_id"].to_numpy(dtype=object), pa.string()),
            "probability": self.probability,
        }
        if reasons:
            cols["reasons"] = pa.array([[r.text for r in rs] for rs in self.reasons(k=k)], pa.list_(pa.string()))
        return pa.table(cols)


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model with everything needed to use and judge it later."""

    estimator: LeadScoreModel
    spec: F.FeatureSpec
    settings: ModelSettings
    trained_at: datetime
    as_of: datetime  # the end of the history it learned from
    report: TrainingReport
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        """The model's input features, in order."""
        return self.spec.names()

    def predict_frame(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Probabilities for rows of a feature frame."""
        if not len(frame):
            return np.zeros(0)
        return self.estimator.predict_proba(frame[self.spec.names()])[:, 1]

    def predict(self, tables: Tables, as_of: datetime, *, everyone: bool = False) -> ModelScores:
        """P(reach the target stage within the horizon) as of ``as_of`` for the contacts the
        model applies to: identified and not yet at the target (``everyone``: all contacts)."""
        who = F.people(tables)
        rows = None
        if not everyone:
            moves = F.contact_ranks(tables.stages, who)
            pop = F.population_and_labels(
                moves, len(who.frame), as_of, horizon_days=0.0, target_rank=self.settings.target_rank
            )
            rows = pop["pos"].to_numpy()
        frame = F.features_at(tables, as_of, self.spec, who, rows=rows)
        return ModelScores(self, as_of, frame, self.predict_frame(frame))
