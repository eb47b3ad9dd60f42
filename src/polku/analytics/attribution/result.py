"""What an attribution query answers: credit per channel (or type) by model, and shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from polku.analytics.attribution.query import AttributionQuery


@dataclass(frozen=True)
class AttributionResult:
    """Credits (conversions) per channel or type, one column per model, with the counts behind them."""

    query: AttributionQuery
    credits: pd.DataFrame  # index: channel (or type); columns: the query's models
    conversions: int  # subjects converting in the date range
    attributed: int  # of them, those with a touchpoint before converting: each model's column total
    journeys: int  # converting and non-converting journeys
    distinct_paths: int
    notes: tuple[str, ...] = ()

    @property
    def shares(self) -> pd.DataFrame:
        """Each model's credits as shares of its total (columns add up to 1; empty stays empty)."""
        total = self.credits.sum(axis=0)
        return self.credits.div(total.where(total > 0, np.nan), axis=1).fillna(0.0)

    def table(self) -> pd.DataFrame:
        """Credits and shares side by side: column ``<model>`` and ``<model>_share`` per model."""
        shares = self.shares.add_suffix("_share")
        columns = [c for m in self.credits.columns for c in (m, f"{m}_share")]
        return pd.concat([self.credits, shares], axis=1)[columns]

    def frames(self) -> dict[str, pd.DataFrame]:
        """The result's tables by name, for printing and CSV: credits and shares."""
        return {"credits": self.credits, "shares": self.shares}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: counts, notes and one row per channel with credit and share by model."""
        shares = self.shares
        rows = [
            {
                self.query.by: str(label),
                "credit": {m: float(self.credits.at[label, m]) for m in self.credits.columns},
                "share": {m: float(shares.at[label, m]) for m in shares.columns},
            }
            for label in self.credits.index
        ]
        return {
            "query": self.query.model_dump(mode="json"),
            "conversions": self.conversions,
            "attributed": self.attributed,
            "journeys": self.journeys,
            "distinct_paths": self.distinct_paths,
            "notes": list(self.notes),
            "rows": rows,
        }
