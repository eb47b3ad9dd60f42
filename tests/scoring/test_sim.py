"""On simulated worlds, where the true drivers of conversion are known (meetings, events
and phone calls: ``SimParams.channel_effects``), the learned model beats the default rule
score on the later period and names those drivers as its reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from polku import Workspace
from polku.scoring import (
    ModelScores,
    TrainedModel,
    default_rules,
    load_model,
    parse_scoring_rules,
    read_header,
    save_model,
    train_model,
)
from polku.scoring.explain import channel_of
from polku.sim import SimParams, generate, write_world

END = datetime(2026, 1, 1, tzinfo=UTC)  # the simulated year 2025 ends here
DRIVERS = {"meeting", "phone", "event"}
# Defaults, but four training cutoffs, to keep the test quick.
RULES = parse_scoring_rules({"model": {"cutoffs": 4}})


def _params() -> dict[str, float]:
    return SimParams().channel_effects


@dataclass(frozen=True)
class Trained:
    """A workspace on a simulated world, the model trained on it and its scores at the end."""

    ws: Workspace
    model: TrainedModel
    scores: ModelScores


@pytest.fixture(scope="module", params=[1, 2, 3])
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """A model trained (and refit, as for use) on a simulated world of 1,000 accounts."""
    home = tmp_path_factory.mktemp(f"sim{request.param}")
    world = generate(1000, seed=request.param, events_per_account=40)
    files = write_world(world, home / "files")
    with Workspace(home / "ws") as ws:
        ws.import_accounts(files["accounts"])
        ws.import_contacts(files["contacts"])
        ws.import_events(files["events"])
        ws.refresh()
        model = train_model(ws.tables(), RULES, as_of=END)
        yield Trained(ws, model, model.predict(ws.tables(), END))


def test_the_true_drivers_are_the_strongest_effects() -> None:
    effects = _params()
    assert {c for c, _ in sorted(effects.items(), key=lambda kv: -kv[1])[:3]} == DRIVERS


def test_model_beats_the_rule_score_on_the_later_period(trained: Trained) -> None:
    report = trained.model.report
    assert report.holdout_cutoff == END - timedelta(days=90)
    # no future leaks: every training label window closes before the hold-out starts
    assert all(c + timedelta(days=90) <= report.holdout_cutoff for c in report.train_cutoffs)
    assert report.model.positives >= 50
    assert report.model.auc > report.rule.auc + 0.02, report.to_markdown()
    assert report.model.precision_top_decile > report.rule.precision_top_decile, report.to_markdown()
    assert report.model.auc > 0.85


def test_probabilities_are_calibrated(trained: Trained) -> None:
    bins = trained.model.report.calibration
    predicted = sum(b.mean_predicted * b.rows for b in bins)
    observed = sum(b.observed * b.rows for b in bins)
    assert 0.6 < predicted / observed < 1.6
    assert bins[-1].observed > 5 * bins[4].observed  # the top decile is where the outcomes are
    assert abs(bins[-1].mean_predicted - bins[-1].observed) < 0.15


def test_reasons_for_top_contacts_name_the_true_drivers(trained: Trained) -> None:
    scores = trained.scores
    top = list(np.argsort(-scores.probability, kind="stable")[:30])
    reasons = scores.reasons(top)
    named = [{channel_of(r.factor) for r in rs if r.weight > 0} for rs in reasons]
    assert sum(bool(n & DRIVERS) for n in named) >= 0.8 * len(top), reasons
    # the drivers together are named more often than any other channel
    by_channel = Counter(channel_of(r.factor) for rs in reasons for r in rs if r.weight > 0)
    drivers = sum(by_channel.pop(d, 0) for d in DRIVERS)
    assert drivers > max((n for c, n in by_channel.items() if c is not None), default=0), (drivers, by_channel)
    texts = " ".join(r.text for rs in reasons for r in rs)
    assert "meeting" in texts and ("phone call" in texts or "webinar" in texts)


def test_contributions_add_up_to_the_log_odds(trained: Trained) -> None:
    model = trained.model
    x = trained.scores.frame[model.feature_names].head(200)
    contrib = model.estimator.contributions(x)
    total = contrib.sum(axis=1).to_numpy() + model.estimator.base_.intercept()
    assert np.allclose(total, model.estimator.decision_function(x))


def test_save_and_load(trained: Trained, tmp_path: Path) -> None:
    model = trained.model
    path = tmp_path / "model.pkl"
    save_model(model, path)
    head = read_header(path)
    assert head["versions"]["scikit-learn"] and head["holdout_cutoff"] == model.report.holdout_cutoff.isoformat()
    assert head["feature_names"] == model.feature_names and head["report"]["model"]["auc"] == model.report.model.auc
    again = load_model(path)
    x = trained.scores.frame.head(50)
    assert np.array_equal(again.predict_frame(x), model.predict_frame(x))
    assert "| model |" in again.report.to_markdown()


def test_default_rules_are_what_the_model_is_compared_with() -> None:
    assert RULES.engagement == default_rules().engagement and RULES.fit == default_rules().fit


def test_the_workspace_trains_saves_and_uses_the_model(trained: Trained) -> None:
    ws = trained.ws
    report = ws.leads.train(as_of=END)
    assert ws.leads.model_path.exists() and report == ws.leads.report()
    result = ws.leads.rescore(as_of=END, qualify=False)
    assert result.with_model
    top = ws.leads.ranked(limit=20)
    assert all(r["probability"] is not None and 0.0 <= r["probability"] <= 1.0 for r in top)
    assert ws.leads.contact(top[0]["contact_id"], as_of=END)["probability"] == top[0]["probability"]
