"""The models follow scikit-learn's estimator contract; training refuses too little history;
saved models carry their versions and are refused by another scikit-learn."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from polku.analytics.tables import from_records
from polku.scoring import (
    LeadScoreModel,
    LinearLeadModel,
    ModelFileError,
    NotEnoughHistory,
    load_model,
    parse_scoring_rules,
    read_header,
    train_model,
)
from polku.scoring.training import plan_cutoffs


def frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    meetings = rng.poisson(0.5, n).astype(float)
    pages = rng.poisson(5.0, n).astype(float)
    role = rng.choice(np.array(["decision_maker", "user", "unknown"], dtype=object), n)
    logit = -2.5 + 1.2 * meetings + 0.02 * pages + np.where(role == "decision_maker", 0.8, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"meeting_held_90d": meetings, "page_view_90d": pages, "velocity": rng.normal(0, 1, n),
                         "role": role}), y


@pytest.mark.parametrize("cls", [LinearLeadModel, LeadScoreModel])
def test_estimator_contract(cls: type) -> None:
    X, y = frame(3000, 1)
    model = cls()
    params = model.get_params()
    assert not [k for k in vars(model) if k.endswith("_")], "nothing learned before fit"
    assert clone(model).get_params() == params
    with pytest.raises(NotFittedError):
        model.predict_proba(X)
    assert model.fit(X, y) is model
    assert model.get_params() == params, "fit must not change hyperparameters"
    assert list(model.feature_names_in_) == list(X.columns) and model.n_features_in_ == 4
    p = model.predict_proba(X)
    assert p.shape == (3000, 2) and np.allclose(p.sum(axis=1), 1.0)
    assert set(model.predict(X)) <= {0, 1}
    assert model.set_params(C=0.1) is model and model.C == 0.1


def test_contributions_are_exact_and_find_the_effect() -> None:
    X, y = frame(5000, 2)
    model = LeadScoreModel().fit(X, y)
    contrib = model.contributions(X)
    assert list(contrib.columns) == list(X.columns)
    assert np.allclose(contrib.sum(axis=1) + model.base_.intercept(), model.decision_function(X))
    imp = model.importance()
    assert imp.abs().idxmax() == "meeting_held_90d" and imp["meeting_held_90d"] > 0
    assert abs(imp["velocity"]) < 0.2


def test_calibrated_probabilities_match_rates() -> None:
    X, y = frame(20000, 3)
    p = LeadScoreModel(calibration="isotonic").fit(X, y, groups=np.arange(len(y)) % 997).predict_proba(X)[:, 1]
    assert abs(p.mean() - y.mean()) < 0.01


def test_calibration_on_the_latest_period() -> None:
    X, y = frame(20000, 4)
    time = np.repeat([1, 2, 3, 4], 5000)
    model = LeadScoreModel().fit(X, y, time=time)
    # the linear part learned from the earlier periods only: refitting on them gives it again
    again = LinearLeadModel(C=model.C).fit(X[time < 4], y[time < 4])
    assert np.allclose(model.decision_function(X), again.decision_function(X))
    p = model.predict_proba(X[time == 4])[:, 1]
    assert abs(p.mean() - y[time == 4].mean()) < 0.01


def test_a_data_frame_is_required() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        LinearLeadModel().fit(np.zeros((10, 2)), np.zeros(10))


NOW = datetime(2025, 12, 31, tzinfo=UTC)


def _tiny_history(days: int, converted: int) -> tuple[object, object]:
    touches, stages = [], []
    for i in range(40):
        cid = f"c{i}"
        start = NOW - timedelta(days=days) + timedelta(days=i % 20)
        stages.append({"subject": "contact", "subject_id": cid, "stage": "suspect", "ts": start})
        touches.append({"ts": start, "type": "page_view", "channel": "web", "contact_id": cid})
        if i < converted:
            stages.append({"subject": "contact", "subject_id": cid, "stage": "opportunity",
                           "ts": start + timedelta(days=days - 30)})
    contacts = [{"contact_id": f"c{i}", "role": "user"} for i in range(40)]
    return from_records(touches, stages, contacts), parse_scoring_rules({})


def test_too_few_positives_is_refused() -> None:
    tables, rules = _tiny_history(400, 5)
    with pytest.raises(NotEnoughHistory, match=r"only \d+ training snapshots reached opportunity within 90 days \(need at least 50\)"):
        train_model(tables, rules, as_of=NOW)


def test_too_short_a_history_is_refused() -> None:
    tables, rules = _tiny_history(100, 30)
    with pytest.raises(NotEnoughHistory, match="needs more than 180 days of history"):
        train_model(tables, rules, as_of=NOW)


def test_cutoffs_leave_a_horizon_before_the_hold_out() -> None:
    rules = parse_scoring_rules({"model": {"horizon": "60d", "cutoffs": 3, "cutoff_step": "2w"}})
    train, hold = plan_cutoffs(NOW, rules.model, NOW - timedelta(days=1000))
    assert hold == NOW - timedelta(days=60)
    assert train == [hold - timedelta(days=60 + 14 * k) for k in (2, 1, 0)]


def test_foreign_model_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match="not a Polku model file"):
        read_header(junk)
    old = tmp_path / "old.pkl"
    with old.open("wb") as f:
        pickle.dump({"format": "1", "versions": {"scikit-learn": "0.24.2"}}, f)
        pickle.dump(None, f)
    with pytest.raises(ModelFileError, match=f"scikit-learn 0.24.2, this is {sklearn.__version__}"):
        load_model(old)
