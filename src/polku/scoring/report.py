"""The training report: how well the model ranks and how honest its probabilities are,
next to the rule score on the same hold-out contacts.

AUC (ranking), precision in the top decile (of the contacts ranked highest, the share
that reached the target: what sales sees when it works the top of the list), and a
calibration table (per decile of predicted probability: mean prediction and observed rate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class Metrics:
    """Ranking quality of one score on the hold-out."""

    auc: float
    precision_top_decile: float
    base_rate: float
    rows: int
    positives: int


@dataclass(frozen=True)
class CalibrationBin:
    """One decile of predicted probability."""

    decile: int  # 1 = lowest predictions
    rows: int
    mean_predicted: float
    observed: float


def precision_at_top(y: npt.ArrayLike, score: npt.ArrayLike, share: float = 0.1) -> float:
    """Share of positives among the ``share`` highest scores (ties broken by row order)."""
    y_arr, s = np.asarray(y), np.asarray(score, dtype=np.float64)
    k = max(1, int(round(len(y_arr) * share)))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y_arr[top].mean())


def metrics(y: npt.ArrayLike, score: npt.ArrayLike) -> Metrics:
    """AUC, top-decile precision and the base rate of a score against outcomes."""
    y_arr = np.asarray(y)
    auc = float(roc_auc_score(y_arr, score)) if 0 < y_arr.sum() < len(y_arr) else float("nan")
    return Metrics(
        auc=auc,
        precision_top_decile=precision_at_top(y_arr, score),
        base_rate=float(y_arr.mean()) if len(y_arr) else float("nan"),
        rows=int(len(y_arr)),
        positives=int(y_arr.sum()),
    )


def calibration_table(y: npt.ArrayLike, p: npt.ArrayLike, bins: int = 10) -> list[CalibrationBin]:
    """Mean predicted probability and observed rate per quantile bin of the predictions."""
    y_arr, p_arr = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    order = np.argsort(p_arr, kind="stable")
    out = []
    for i, part in enumerate(np.array_split(order, bins)):
        if len(part):
            out.append(CalibrationBin(i + 1, int(len(part)), float(p_arr[part].mean()), float(y_arr[part].mean())))
    return out


@dataclass(frozen=True)
class TrainingReport:
    """What training did and how the model compares with the rule score on the hold-out."""

    horizon_days: float
    target_stage: str
    train_cutoffs: tuple[datetime, ...]
    holdout_cutoff: datetime
    train_rows: int
    train_positives: int
    model: Metrics
    rule: Metrics
    calibration: tuple[CalibrationBin, ...]
    top_features: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    refit_cutoffs: tuple[datetime, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        d = asdict(self)
        d["train_cutoffs"] = [c.isoformat() for c in self.train_cutoffs]
        d["refit_cutoffs"] = [c.isoformat() for c in self.refit_cutoffs]
        d["holdout_cutoff"] = self.holdout_cutoff.isoformat()
        d["top_features"] = [list(x) for x in self.top_features]
        return d

    def to_markdown(self) -> str:
        """The report as Markdown, for the CLI and the docs."""
        first, last = min(self.train_cutoffs), max(self.train_cutoffs)
        lines = [
            f"# Lead-score model: P(reach {self.target_stage} within {self.horizon_days:g} days)",
            "",
            f"Trained on {self.train_rows:,} snapshots ({self.train_positives:,} positive) at "
            f"{len(self.train_cutoffs)} cutoffs from {first.date()} to {last.date()}; "
            f"evaluated on contacts as of {self.holdout_cutoff.date()} "
            f"({self.model.rows:,} contacts, {self.model.positives:,} reached {self.target_stage}).",
            "",
            "| score | AUC | precision, top decile | base rate |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, m in (("model", self.model), ("rule score", self.rule)):
            lines.append(f"| {name} | {m.auc:.3f} | {m.precision_top_decile:.3f} | {m.base_rate:.3f} |")
        lines += ["", "Calibration (deciles of predicted probability):", "",
                  "| decile | contacts | mean predicted | observed |", "| ---: | ---: | ---: | ---: |"]
        lines += [f"| {b.decile} | {b.rows:,} | {b.mean_predicted:.3f} | {b.observed:.3f} |" for b in self.calibration]
        if self.top_features:
            lines += ["", "Strongest features (standardised log-odds weight):", ""]
            lines += [f"- {name}: {w:+.2f}" for name, w in self.top_features]
        return "\n".join(lines) + "\n"
