"""Target experiences on hand-made answers: each scope kind, attribution, gap, interval, trend, the
not-enough-data flag, and bad cx.yaml files rejected with file:line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from polku.analytics.tables import Tables, from_records
from polku.cx.answers import answers_of
from polku.cx.config import CX_FILE, CxConfig, load_config
from polku.cx.targets import evaluate_targets, touchpoint_types, trigger_touches
from polku.errors import ConfigError

AS_OF = datetime(2025, 7, 1, tzinfo=UTC)
LEVEL = {"c_exec": "executive", "c_mgr": "management", "c_op": "operational"}
ROLE = {"c_exec": "decision_maker", "c_mgr": "purchaser", "c_op": "user"}


def _answer(n: int, contact: str, days_ago: float, props: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": f"s{n}", "ts": AS_OF - timedelta(days=days_ago), "type": "survey_answered",
            "channel": "email", "properties": json.dumps(props), "contact_id": contact, "account_id": "acme",
            "role": ROLE[contact], "org_level": LEVEL[contact]}


def _touch(n: int, contact: str, days_ago: float, type_: str) -> dict[str, Any]:
    return {"event_id": f"t{n}", "ts": AS_OF - timedelta(days=days_ago), "type": type_, "channel": "service",
            "contact_id": contact, "account_id": "acme", "role": ROLE[contact], "org_level": LEVEL[contact]}


def _tables() -> Tables:
    """Answers of three people at one account, in several shapes, with tickets and a stage history."""
    rows = [
        # after tickets: CES recorded with its trigger, and the legacy shape placed by the ticket before it
        _answer(1, "c_op", 10, {"survey": "service", "scores": {"ces": 6}, "trigger": {"type": "ticket_closed"}}),
        _answer(2, "c_op", 12, {"survey": "service", "scores": {"ces": 7}, "trigger": {"type": "ticket_closed"}}),
        _touch(3, "c_mgr", 22, "ticket_closed"),
        _answer(4, "c_mgr", 20, {"survey": "ces", "score": 6}),  # 2 days after a ticket: in scope
        _touch(5, "c_mgr", 60, "ticket_closed"),
        _answer(6, "c_mgr", 40, {"survey": "ces", "score": 2}),  # 20 days after it: not in scope
        # NPS, relationship survey, every level
        _answer(7, "c_exec", 30, {"survey": "relationship", "scores": {"nps": 10}}),
        _answer(8, "c_exec", 120, {"survey": "relationship", "scores": {"nps": 6}}),
        _answer(9, "c_mgr", 30, {"survey": "relationship", "scores": {"nps": 9}}),
        _answer(10, "c_op", 30, {"survey": "nps", "score": 3}),
        # CSAT with a recorded phase, and one whose phase comes from the account's stage history
        _answer(11, "c_mgr", 200, {"survey": "onboarding", "scores": {"csat": 5}, "phase": "purchase"}),
        _answer(12, "c_op", 5, {"survey": "csat", "score": 4}),
    ]
    stages = [{"subject": "account", "subject_id": "acme", "stage": "opportunity", "ts": AS_OF - timedelta(days=300)},
              {"subject": "account", "subject_id": "acme", "stage": "customer", "ts": AS_OF - timedelta(days=100)}]
    return from_records(rows, stages=stages)


def _config(targets: list[dict[str, Any]], **extra: Any) -> CxConfig:
    return CxConfig.model_validate({"targets": targets, "min_n": 2, **extra})


def _run(config: CxConfig) -> dict[str, dict[str, Any]]:
    tables = _tables()
    triggers = trigger_touches(tables.touchpoints, touchpoint_types(config))
    results = evaluate_targets(config, answers_of(tables), triggers, as_of=AS_OF)
    return {r["id"]: r for r in results}


def test_touchpoint_scope_recorded_and_inferred_triggers() -> None:
    config = _config([{"id": "ticket-effort", "scope": {"touchpoint": "ticket_closed"},
                       "granularity": [{"measure": "ces", "target": 5, "direction": "at_least"}]}])
    result = _run(config)["ticket-effort"]
    dim = result["dimensions"][0]
    assert dim["n"] == 3 and dim["value"] == pytest.approx(19 / 3, abs=1e-3)  # 6, 7 and the placed 6
    assert dim["gap"] == pytest.approx(19 / 3 - 5, abs=1e-3) and dim["met"] is True
    assert result["scope_kind"] == "touchpoint" and result["scope"] == "touchpoint ticket_closed"
    narrow = _config([{"id": "t", "scope": {"touchpoint": "ticket_closed", "within_days": 1},
                       "granularity": [{"measure": "ces", "target": 5, "direction": "at_least"}]}])
    assert _run(narrow)["t"]["dimensions"][0]["n"] == 2  # the legacy answer is 2 days after: out


def test_survey_scope_and_attribution_by_org_level() -> None:
    config = _config([
        {"id": "rel", "scope": {"survey": "relationship"},
         "granularity": {"measure": "nps", "target": 0, "direction": "at_least"}},
        {"id": "exec", "scope": "business", "attribution": {"org_levels": ["executive"]},
         "granularity": {"measure": "nps", "target": 0, "direction": "at_least"}},
        {"id": "dm-mgmt", "scope": "business", "attribution": {"roles": ["decision_maker"], "org_levels": ["management"]},
         "granularity": {"measure": "nps", "target": 0, "direction": "at_least"}},
    ])
    result = _run(config)
    rel = result["rel"]["dimensions"][0]
    assert rel["n"] == 3 and rel["value"] == pytest.approx(100 * (2 / 3 - 1 / 3), abs=1e-3)
    ex = result["exec"]["dimensions"][0]
    assert ex["n"] == 2 and ex["value"] == pytest.approx(0.0)  # one promoter, one detractor
    assert result["exec"]["attribution"] == "executive level"
    assert result["dm-mgmt"]["dimensions"][0]["n"] == 0  # both must match: nobody is
    assert result["dm-mgmt"]["status"] == "not_enough_data"


def test_phase_scope_uses_recorded_phase_or_stage_history() -> None:
    config = _config([
        {"id": "post", "scope": {"phase": "post_purchase"},  # either spelling
         "granularity": [{"measure": "csat", "target": 80, "direction": "at_least"},
                         {"measure": "csat_mean", "target": 4, "direction": "at_least"}]},
        {"id": "purchase", "scope": {"phase": "purchase"},
         "granularity": {"measure": "csat_mean", "target": 4, "direction": "at_least"}, "min_n": 1},
    ])
    result = _run(config)
    post = result["post"]["dimensions"]
    assert post[0]["n"] == 1 and post[0]["value"] == 100.0  # the CSAT 4 of 5 days ago, placed by the stage history
    assert result["post"]["status"] == "not_enough_data"
    purchase = result["purchase"]["dimensions"][0]
    assert purchase["n"] == 1 and purchase["value"] == 5.0
    assert result["purchase"]["scope"] == "the purchase phase"


def test_business_scope_every_answer_with_interval_and_status() -> None:
    config = _config([{"id": "all-effort", "scope": "business", "granularity": [
        {"measure": "ces", "target": 7, "direction": "at_most"}]}])
    dim = _run(config)["all-effort"]["dimensions"][0]
    assert dim["n"] == 4 and dim["value"] == pytest.approx(5.25)
    low, high = dim["ci"]
    assert low < 5.25 < high
    assert dim["status"] in ("met", "uncertain") and dim["gap"] == pytest.approx(1.75)


def test_not_enough_data_flag_below_min_n() -> None:
    config = _config([{"id": "ops", "scope": "business", "attribution": {"org_levels": ["operational"]},
                       "granularity": {"measure": "nps", "target": 0, "direction": "at_least"}, "min_n": 5}])
    result = _run(config)["ops"]
    dim = result["dimensions"][0]
    assert (dim["n"], dim["min_n"], dim["not_enough_data"], result["not_enough_data"]) == (1, 5, True, True)
    assert dim["value"] == -100.0  # still shown, flagged


def test_status_met_missed_from_the_interval() -> None:
    answers = pd.DataFrame({
        "event_id": [f"e{i}" for i in range(8)], "ts": [AS_OF - timedelta(days=i + 1) for i in range(8)],
        "contact_id": "c", "account_id": "a", "role": None, "org_level": None, "survey": "s", "measure": "ces",
        "score": [6.0, 7.0, 6.0, 7.0, 6.0, 7.0, 6.0, 7.0], "comment": None, "language": None, "trigger_type": None,
        "phase": None,
    })
    config = _config([
        {"id": "easy", "scope": "business", "granularity": {"measure": "ces", "target": 5, "direction": "at_least"}},
        {"id": "hard", "scope": "business", "granularity": {"measure": "ces", "target": 5, "direction": "at_most"}},
    ])
    empty = pd.DataFrame({"contact_id": [], "ts": [], "type": []})
    result = {r["id"]: r for r in evaluate_targets(config, answers, empty, as_of=AS_OF)}
    assert result["easy"]["status"] == "met" and result["hard"]["status"] == "missed"
    assert result["hard"]["dimensions"][0]["gap"] == pytest.approx(-1.5)
    months = result["easy"]["dimensions"][0]["by_month"]
    assert [m["month"] for m in months] == ["2025-06"] and months[0]["n"] == 8


def test_trend_last_window_against_the_one_before() -> None:
    recent = [9.0, 10.0] * 10  # NPS 100 in the last 90 days
    earlier = [0.0, 3.0] * 10  # NPS -100 before
    scores = recent + earlier
    days = [5 + i for i in range(20)] + [100 + i for i in range(20)]
    answers = pd.DataFrame({
        "event_id": [f"e{i}" for i in range(40)], "ts": [AS_OF - timedelta(days=d) for d in days], "contact_id": "c",
        "account_id": "a", "role": None, "org_level": None, "survey": "s", "measure": "nps", "score": scores,
        "comment": None, "language": None, "trigger_type": None, "phase": None,
    })
    config = _config([{"id": "nps", "scope": "business", "granularity": {"measure": "nps", "target": 0, "direction": "at_least"}}])
    trend = evaluate_targets(config, answers, pd.DataFrame({"contact_id": [], "ts": [], "type": []}), as_of=AS_OF)[0][
        "dimensions"][0]["trend"]
    assert trend["recent"]["value"] == 100 and trend["previous"]["value"] == -100
    assert trend["change"] == 200 and trend["direction"] == "improving"


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / CX_FILE).write_text(text, encoding="utf-8")
    return tmp_path


def test_bad_cx_yaml_rejected_with_file_and_line(tmp_path: Path) -> None:
    home = _write(tmp_path, """\
min_n: 10
targets:
  - id: ok
    granularity: {measure: nps, target: 20, direction: at_least}
    scope: business
  - id: bad
    granularity:
      - {measure: happiness, target: 5, direction: at_least}
      - {measure: ces, target: 3, direction: upwards}
    attribution: {org_levels: [board]}
    scope: {phase: pre-purchase}
""")
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    text = str(caught.value)
    path = str(home / CX_FILE)
    assert f"{path}:8: targets.1.granularity.0: unknown measure 'happiness'" in text
    assert f"{path}:9: targets.1.granularity.1.direction:" in text and "at_most" in text
    assert f"{path}:10: targets.1.attribution.org_levels.0:" in text and "executive" in text
    assert {d["line"] for d in caught.value.details} == {8, 9, 10}


@pytest.mark.parametrize(("body", "line", "words"), [
    ("targets:\n  - id: x\n    granularity: {measure: nps, target: 20, direction: at_least}\n"
     "    scope: {phase: pre-purchase, survey: nps}\n", 4, "exactly one of"),
    ("targets:\n  - id: x\n    granularity: {measure: nps, target: 200, direction: at_least}\n    scope: business\n",
     3, "outside nps's range"),
    ("health:\n  weights: {nps: 1, moods: 2}\n", 2, "moods"),
    ("measures:\n  ces: {better: lower}\n", None, None),
    ("measures:\n  ces: {better: lower}\nalerts:\n  detractor:\n    - {measure: ces, at_most: 2}\n", 4, "uses at_least"),
    ("targets: [\n", 2, "not valid YAML"),
])
def test_more_config_errors(tmp_path: Path, body: str, line: int | None, words: str | None) -> None:
    home = _write(tmp_path, body)
    if line is None:
        assert load_config(home).measure_defs()["ces"].better == "lower"
        return
    with pytest.raises(ConfigError) as caught:
        load_config(home)
    assert f"{CX_FILE}:{line}:" in str(caught.value) and words in str(caught.value)


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.targets == [] and config.min_n == 30 and config.measure_defs()["ces"].better == "higher"
