"""Training the lead-score model on the workspace's own history, without future leaks.

Snapshots: at each cutoff, the contacts identified and not yet at the target stage,
with features from touchpoints before the cutoff and the label "reached the target
within the horizon after it". The hold-out cutoff is the latest whose horizon has fully
passed (``as_of - horizon``); training cutoffs lie a horizon or more before it, so every
training label is known before the hold-out period starts. The rule score is judged on
the same hold-out contacts as of the same moment. Afterwards (``refit``) the model is
refit on every snapshot, the hold-out included, for use.

When there are more snapshot rows than ``max_rows``, negatives are sampled and weighted
by the inverse of the sampling rate, so probabilities stay calibrated; and only as many
of the latest cutoffs are used as fill ``max_rows`` about twice (at least two).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd
import sklearn

from polku.analytics.tables import Tables
from polku.scoring import features as F
from polku.scoring.errors import NotEnoughHistory
from polku.scoring.model import LeadScoreModel
from polku.scoring.report import TrainingReport, calibration_table, metrics
from polku.scoring.rescore import score_contacts
from polku.scoring.rules import ModelSettings, ScoringRules
from polku.scoring.trained import TrainedModel

MODEL_FORMAT = "1"
_US = timedelta(microseconds=1)


def _polku_version() -> str:
    try:
        return version("polku")
    except PackageNotFoundError:
        return "unknown"


def history_end(tables: Tables) -> datetime:
    """Just after the newest touchpoint: the default end of the history to learn from."""
    newest = tables.touchpoints.ts.max().to_pyarrow().as_py()
    if newest is None:
        raise NotEnoughHistory("there are no touchpoints to learn from")
    return newest + _US


def plan_cutoffs(as_of: datetime, s: ModelSettings, first: datetime) -> tuple[list[datetime], datetime]:
    """The training cutoffs (oldest first) and the hold-out cutoff."""
    horizon, step = timedelta(days=s.horizon), timedelta(days=s.cutoff_step)
    holdout = as_of - horizon
    train = [holdout - horizon - k * step for k in range(s.cutoffs)]
    train = sorted(c for c in train if c > first)
    if not train:
        days = (2 * horizon).days
        raise NotEnoughHistory(
            f"training needs more than {days} days of history (two horizons of {s.horizon:g} days); "
            f"the touchpoints span {(as_of - first).days} days"
        )
    return train, holdout


class _Snapshots:
    """Labelled feature rows per cutoff, computed once per cutoff.

    Each cutoff's population gets one fixed random draw per contact (seeded by the
    cutoff), and a sample at rate r keeps the negatives drawn below r. Samples at lower
    rates are therefore subsets of those at higher ones, and are cut from rows already
    computed instead of computing features again.
    """

    def __init__(self, tables: Tables, spec: F.FeatureSpec, s: ModelSettings, seed: int) -> None:
        self.tables, self.spec, self.s, self.seed = tables, spec, s, seed
        self.who = F.people(tables)
        self.moves = F.contact_ranks(tables.stages, self.who)
        self._labels: dict[datetime, pd.DataFrame] = {}
        self._rows: dict[datetime, tuple[float, pd.DataFrame]] = {}

    def labels(self, cutoff: datetime) -> pd.DataFrame:
        """The population at a cutoff (rows of the people), its labels and random draws."""
        if cutoff not in self._labels:
            lab = F.population_and_labels(
                self.moves, len(self.who.frame), cutoff, horizon_days=self.s.horizon, target_rank=self.s.target_rank
            )
            lab["draw"] = np.random.default_rng([self.seed, int(cutoff.timestamp())]).random(len(lab))
            self._labels[cutoff] = lab
        return self._labels[cutoff]

    def rows(self, cutoff: datetime, rate: float = 1.0) -> pd.DataFrame:
        """Labelled feature rows at a cutoff: the positives and the negatives drawn below
        ``rate``, weighted by its inverse."""
        known = self._rows.get(cutoff)
        if known is None or known[0] < rate:
            lab = self.labels(cutoff)
            lab = lab[(lab["label"].to_numpy() == 1) | (lab["draw"].to_numpy() < rate)].reset_index(drop=True)
            feats = F.features_at(self.tables, cutoff, self.spec, self.who, rows=lab["pos"].to_numpy())
            rows = pd.concat([feats, lab[["label", "draw"]]], axis=1)
            rows["cutoff"] = cutoff
            known = (rate, rows)
            self._rows[cutoff] = known
        rows = known[1]
        if known[0] > rate:
            rows = rows[(rows["label"].to_numpy() == 1) | (rows["draw"].to_numpy() < rate)]
        rows = rows.copy()
        rows["weight"] = np.where(rows["label"] == 1, 1.0, 1.0 / rate)
        return rows.reset_index(drop=True)

    def sample_rate(self, cutoffs: list[datetime]) -> float:
        """The share of negatives to keep so the rows of ``cutoffs`` fit in ``max_rows``."""
        labs = [self.labels(c) for c in cutoffs]
        total = sum(len(x) for x in labs)
        positives = sum(int(x["label"].sum()) for x in labs)
        if total <= self.s.max_rows:
            return 1.0
        return max(0.01, (self.s.max_rows - positives) / max(1, total - positives))

    def training_rows(self, cutoffs: list[datetime]) -> pd.DataFrame:
        """The rows of several cutoffs, sampled to fit ``max_rows``."""
        rate = self.sample_rate(cutoffs)
        return pd.concat([self.rows(c, rate) for c in cutoffs], ignore_index=True)


def _enough(snaps: _Snapshots, cutoffs: list[datetime], s: ModelSettings) -> list[datetime]:
    """The latest cutoffs that give about twice ``max_rows`` snapshots (at least two, so
    the latest can calibrate): a large workspace need not compute every cutoff only to
    sample most of its rows away."""
    sizes = [len(snaps.labels(c)) for c in cutoffs]
    need = math.ceil(2 * s.max_rows / max(1.0, sum(sizes) / len(sizes)))
    return cutoffs[-max(2, min(len(cutoffs), need)):]


def _fit(estimator: LeadScoreModel, rows: pd.DataFrame, spec: F.FeatureSpec) -> LeadScoreModel:
    return estimator.fit(rows[spec.names()], rows["label"].to_numpy(), sample_weight=rows["weight"].to_numpy(),
                         groups=rows["contact_id"].to_numpy(), time=rows["cutoff"].to_numpy())


def _check_positives(what: str, found: int, need: int, s: ModelSettings) -> None:
    if found < need:
        raise NotEnoughHistory(
            f"only {found} {what} reached {s.target_stage} within {s.horizon:g} days (need at least "
            f"{need}); import more history, or lower scoring.model.min_positives"
        )


def train_model(
    tables: Tables, rules: ScoringRules, *, as_of: datetime | None = None,
    estimator: LeadScoreModel | None = None, seed: int = 0,
) -> TrainedModel:
    """Train, evaluate against the rule score on the hold-out, refit, and return the model."""
    s = rules.model
    as_of = as_of or history_end(tables)
    first = tables.touchpoints.ts.min().to_pyarrow().as_py()
    train_cuts, holdout = plan_cutoffs(as_of, s, first)
    spec = F.learn_spec(tables, holdout)
    snaps = _Snapshots(tables, spec, s, seed)
    train_cuts = _enough(snaps, train_cuts, s)
    _check_positives("training snapshots", sum(int(snaps.labels(c)["label"].sum()) for c in train_cuts),
                     s.min_positives, s)
    _check_positives("hold-out contacts", int(snaps.labels(holdout)["label"].sum()), s.min_holdout_positives, s)

    base = estimator if estimator is not None else LeadScoreModel()
    train = snaps.training_rows(train_cuts)
    model = _fit(sklearn.clone(base), train, spec)
    hold = snaps.rows(holdout)
    p = model.predict_proba(hold[spec.names()])[:, 1]
    rule = score_contacts(tables, rules, holdout - _US)
    rule_score = pd.Series(rule.score, index=rule.contact_id).reindex(hold["contact_id"]).fillna(0.0)
    y = hold["label"].to_numpy()

    refit_cuts: list[datetime] = []
    if s.refit:
        refit_cuts = [*train_cuts, holdout]
        model = _fit(sklearn.clone(base), snaps.training_rows(refit_cuts), spec)
    top = model.importance().sort_values(key=np.abs, ascending=False).head(12)
    report = TrainingReport(
        horizon_days=s.horizon,
        target_stage=s.target_stage,
        train_cutoffs=tuple(train_cuts),
        holdout_cutoff=holdout,
        train_rows=len(train),
        train_positives=int(train["label"].sum()),
        model=metrics(y, p),
        rule=metrics(y, rule_score.to_numpy()),
        calibration=tuple(calibration_table(y, p)),
        top_features=tuple((str(k), float(v)) for k, v in top.items()),
        refit_cutoffs=tuple(refit_cuts),
    )
    return TrainedModel(
        estimator=model,
        spec=spec,
        settings=s,
        trained_at=datetime.now(UTC),
        as_of=as_of,
        report=report,
        versions={"format": MODEL_FORMAT, "polku": _polku_version(), "scikit-learn": sklearn.__version__},
    )
