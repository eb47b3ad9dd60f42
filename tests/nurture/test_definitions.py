"""Journey, content and policy files are checked on load; every problem names its file, line and what is wrong."""

from __future__ import annotations

import pytest

from polku.errors import ConfigError
from polku.nurture.loader import load_definitions

JOURNEY = """name: Welcome
trigger:
  event: content_download
  topic: automation
holdout: 0.1
goal: {did: quote_requested, within: 30d}
steps:
  - id: intro
    send: hello
  - id: pause
    wait: 3d
  - id: check
    branch:
      if: {clicked: intro}
      then: hot
      else: end
  - id: hot
    notify_owner: {template: owner-note, fallback: sales@acme.example}
"""


def problems(home_path: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_definitions(home_path)  # type: ignore[arg-type]
    return caught.value.message


def test_a_valid_workspace_loads(home) -> None:
    home.write("journeys/welcome.yaml", JOURNEY)
    home.policy(sender={"from": "Acme <news@acme.example>"}, frequency_cap={"messages": 2, "per": "7d"},
                quiet_hours={"start": "20:00", "end": "08:00"}, timezone="Europe/Helsinki")
    defs = load_definitions(home.path)
    journey = defs.journeys["welcome"]
    assert journey.title == "Welcome" and journey.steps[1].wait == 3 * 86400
    assert journey.successors(2) == {"then": "hot", "else": None}
    assert [t.language for t in (v.template for v in defs.library.variants("hello"))] == ["en", "fi"]
    assert defs.policy.sender.domain == "acme.example"


def test_a_jump_to_a_missing_step_names_file_and_line(home) -> None:
    home.write("journeys/welcome.yaml", JOURNEY.replace("then: hot", "then: hott"))
    message = problems(home.path)
    assert "journeys/welcome.yaml:15: steps.2.branch.then: no step 'hott' in this journey" in message


def test_a_template_reading_a_trait_the_audience_may_lack_is_refused(home) -> None:
    home.write("content/extra.yaml", "templates:\n  - id: bare\n    subject: Hi\n    text: |\n      Hello\n      {{ contact.title }}\n")
    home.write("journeys/welcome.yaml", JOURNEY.replace("send: hello", "send: bare"))
    message = problems(home.path)
    assert "journeys/welcome.yaml:9: steps.0.send: template 'bare' (content/extra.yaml:6) reads contact.title" in message
    assert "add contact.title to audience.requires" in message
    home.write("journeys/welcome.yaml", JOURNEY.replace("send: hello", "send: bare") + "audience:\n  requires: [contact.title]\n")
    assert load_definitions(home.path).journeys["welcome"].audience.requires == ["contact.title"]


def test_an_unknown_variable_and_a_syntax_error_name_their_template_lines(home) -> None:
    home.write(
        "content/bad.yaml",
        "templates:\n  - id: typo\n    subject: Hi\n    text: |\n      line one\n      {{ contact.first_name }}\n"
        "  - id: broken\n    subject: 'Hi {{ contact.email }'\n    text: fine\n",
    )
    message = problems(home.path)
    assert "content/bad.yaml:6: templates.0.text: unknown variable contact.first_name" in message
    assert "content/bad.yaml:8: templates.1.subject: template syntax error" in message


def test_loops_bad_triggers_and_bad_durations_are_refused(home) -> None:
    home.write("journeys/loop.yaml", "trigger: {manual: true}\nsteps:\n  - id: a\n    wait: 1d\n    next: b\n  - id: b\n    wait: 1d\n    next: a\n")
    home.write("journeys/odd.yaml", "trigger: {evnt: x}\nsteps:\n  - id: a\n    wait: 3 days\n")
    message = problems(home.path)
    assert "journeys/loop.yaml:6: steps.1.id: the steps loop: a -> b -> a" in message
    assert "journeys/odd.yaml:1: trigger: a trigger needs exactly one of event, stage, score, segment, manual" in message
    assert "journeys/odd.yaml:4: steps.0.wait: '3 days' is not a duration" in message


def test_policy_and_yaml_syntax_errors(home) -> None:
    home.policy(timezone="Mars/Olympus", consent="maybe")
    home.write("journeys/bad.yaml", "trigger: {manual: true}\nsteps: [\n")
    message = problems(home.path)
    assert "nurture.yaml:" in message and "'Mars/Olympus' is not a time zone name" in message
    assert "consent" in message
    assert "journeys/bad.yaml:3: (file): not valid YAML" in message


def test_opened_must_name_an_earlier_send_step_and_enrol_a_known_journey(home) -> None:
    home.write("journeys/welcome.yaml", JOURNEY.replace("{clicked: intro}", "{clicked: pause}") + "  - id: more\n    enrol: nowhere\n")
    message = problems(home.path)
    assert "opened/clicked must name a send step of this journey, not 'pause'" in message
    assert "steps.4.enrol: no journey 'nowhere'" in message
