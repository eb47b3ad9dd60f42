"""Scoring rules load from the workspace file; bad rules are refused with file, line, reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from polku.errors import ConfigError
from polku.lifecycle.rules import DEFAULT_RULES
from polku.model import STANDARD_EVENTS
from polku.scoring import DEFAULT_SCORING_YAML, default_rules, load_scoring_rules, parse_scoring_rules


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "polku.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problem(path: Path) -> dict[str, object]:
    """The single problem the loader reports for ``path``."""
    with pytest.raises(ConfigError) as err:
        load_scoring_rules(path)
    assert len(err.value.details) == 1, err.value.details
    assert str(path) in err.value.message
    return err.value.details[0]


def test_defaults_are_the_documented_yaml() -> None:
    rules = default_rules()
    from_text = parse_scoring_rules(yaml.safe_load(DEFAULT_SCORING_YAML)["scoring"])
    assert rules == from_text
    names = [r.name for r in rules.engagement.rules]
    assert {"meeting", "phone call", "demo request", "pricing page"} <= set(names)
    assert all(t in STANDARD_EVENTS for r in rules.engagement.rules for t in r.types or ())
    assert rules.model.horizon == 90 and rules.model.min_positives == 50
    assert rules.engagement.decay.kind == "half_life" and rules.engagement.decay.days == 30


def test_missing_file_or_section_gives_defaults(tmp_path: Path) -> None:
    assert load_scoring_rules(tmp_path / "absent.yaml") == default_rules()
    path = write(tmp_path, yaml.safe_dump({"lifecycle": {"rules": [DEFAULT_RULES[0].model_dump(mode="json")]}}))
    assert load_scoring_rules(path) == default_rules()


def test_a_section_replaces_only_what_it_names(tmp_path: Path) -> None:
    path = write(tmp_path, """\
lifecycle:
  rules: []
scoring:
  custom_events: [trial_started]
  grades: {fit_weight: 0.5}
  engagement:
    decay: {window: 90d}
    rules:
      - name: trial
        types: [trial_started]
        points: 30
        says: "started {count} trials in {days} days"
      - {name: pricing, types: [page_view], properties: {path: {contains: pricing}}, points: 5, decay: 7d}
""")
    rules = load_scoring_rules(path)
    assert [r.name for r in rules.engagement.rules] == ["trial", "pricing"]
    assert rules.engagement.decay_of(rules.engagement.rules[0]).kind == "window"
    assert rules.engagement.decay_of(rules.engagement.rules[1]).days == 7
    assert rules.grades.fit_weight == 0.5
    assert rules.fit == default_rules().fit


BAD = [
    ("unknown event type",
     "scoring:\n  engagement:\n    rules:\n      - name: x\n        types:\n          - page_view\n          - page_veiw\n        points: 1\n",
     7, "unknown event type 'page_veiw'"),
    ("undeclared custom type",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, types: [trial_started], points: 1}\n",
     4, "declare custom types under scoring.custom_events"),
    ("identify is not a touchpoint",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, types: [identify], points: 1}\n",
     4, "identify is not a touchpoint"),
    ("wrong field",
     "scoring:\n  engagement:\n    rules:\n      - name: x\n        types: [page_view]\n        point: 1\n        points: 1\n",
     6, "Extra inputs are not permitted"),
    ("unparseable decay",
     "scoring:\n  engagement:\n    rules:\n      - name: x\n        types: [page_view]\n        points: 1\n        decay: thirty days\n",
     7, "unparseable decay 'thirty days'"),
    ("negative half-life",
     "scoring:\n  engagement:\n    decay: -30d\n    rules: []\n",
     3, "a half-life must be positive"),
    ("negative window",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, types: [page_view], points: 1, decay: {window: -3d}}\n",
     4, "a window must be positive"),
    ("unknown decay kind",
     "scoring:\n  engagement:\n    decay: {exponential: 3d}\n    rules: []\n",
     3, "unknown decay 'exponential'"),
    ("unknown channel",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, channels: [fax], points: 1}\n",
     4, "Input should be"),
    ("zero points",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, types: [page_view], points: 0}\n",
     4, "points must not be 0"),
    ("bad reason template",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, types: [page_view], points: 1, says: 'saw {pages}'}\n",
     4, "not ['pages']"),
    ("duplicate names",
     "scoring:\n  engagement:\n    rules:\n      - {name: x, types: [page_view], points: 1}\n      - {name: x, types: [email_open], points: 1}\n",
     3, "names must be unique"),
    ("unknown fit field",
     "scoring:\n  fit:\n    rules:\n      - {name: x, field: revenue, min: 5, points: 1}\n",
     4, "Input should be 'role'"),
    ("unknown role value",
     "scoring:\n  fit:\n    rules:\n      - {name: x, field: role, one_of: [ceo], points: 1}\n",
     4, "unknown role values ['ceo']"),
    ("size band needs min or max",
     "scoring:\n  fit:\n    rules:\n      - {name: x, field: employees, one_of: ['50'], points: 1}\n",
     4, "employees is tested with min and/or max"),
    ("grades out of order",
     "scoring:\n  grades:\n    fit: [25, 50, 75]\n",
     3, "highest first"),
    ("unknown section",
     "scoring:\n  engagment:\n    rules: []\n",
     3, "Extra inputs are not permitted"),  # the line where its value starts
]


@pytest.mark.parametrize(("text", "line", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_rules_name_file_line_and_reason(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, text)
    p = problem(path)
    assert p["file"] == str(path)
    assert p["line"] == line, p
    assert reason in str(p["reason"]), p


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "scoring:\n  engagement: [\n")
    with pytest.raises(ConfigError, match=r"polku.yaml:\d+: not valid YAML"):
        load_scoring_rules(path)


def test_parse_a_mapping_names_source_and_field() -> None:
    with pytest.raises(ConfigError) as err:
        parse_scoring_rules({"model": {"horizon": "ninety"}}, source="api:PUT /v1/scoring")
    d = err.value.details[0]
    assert d["file"] == "api:PUT /v1/scoring" and d["field"] == "scoring.model.horizon"
    assert "cannot read 'ninety' as a duration" in d["reason"]


def test_custom_events_must_be_snake_case() -> None:
    with pytest.raises(ConfigError, match="snake_case"):
        parse_scoring_rules({"custom_events": ["Trial Started"]})
