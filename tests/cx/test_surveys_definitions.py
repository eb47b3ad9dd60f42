"""Survey files: a good one loads; every problem names its file, line and what is wrong; the cache sees edits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polku.cli import app
from polku.cx.surveys import load_surveys
from polku.cx.surveys.loader import Catalog
from polku.errors import ConfigError

GOOD = """\
title:
  en: How was your onboarding?
  fi: Miten käyttöönotto sujui?
intro:
  en: Three quick questions.
  fi: Kolme nopeaa kysymystä.
questions:
  - id: ces
    type: ces
    text: {en: "Acme made it easy to get started.", fi: "Acme teki aloittamisesta helppoa."}
  - id: nps
    type: nps
    text: {en: "Would you recommend us?", fi: "Suosittelisitko meitä?"}
  - id: speed
    type: scale
    min: 1
    max: 4
    labels: {en: {1: Slow, 4: Fast}, fi: {1: Hidas, 4: Nopea}}
    text: {en: "How fast?", fi: "Kuinka nopeasti?"}
  - id: area
    type: choice
    required: false
    text: {en: "What helped?", fi: "Mikä auttoi?"}
    choices:
      - {id: docs, label: {en: Docs, fi: Ohjeet}}
      - {id: people, label: {en: People, fi: Ihmiset}}
  - id: comment
    type: text
    max_length: 300
    text: {en: "Anything else?", fi: "Muuta?"}
triggers:
  - event: onboarding_finished
    delay: 1d
    cooldown: 60d
    sample: 0.5
"""


def write(home: Path, name: str, text: str) -> Path:
    path = home / "surveys" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(home: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_surveys(home)
    return [f"{d['file']}:{d['line']}: {d['field']}: {d['reason']}" for d in caught.value.details]


def test_a_good_survey_loads_with_its_id_from_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, "onboarding.yaml", GOOD)
    [survey] = load_surveys(tmp_path).values()
    assert survey.id == "onboarding" and survey.languages == ["en", "fi"]
    assert survey.measures == ["ces", "nps", "speed"] and survey.max_answers_per_invite == 1
    assert survey.expires == 30 * 86400 and survey.triggers[0].delay == 86400
    assert [q.is_required for q in survey.questions] == [True, True, True, False, False]
    assert survey.language_for("fi-FI") == "fi" and survey.language_for("sv", None) == "en"


@pytest.mark.parametrize(
    ("edit", "line", "words"),
    [
        (("    type: nps\n", "    type: nps\n    min: 1\n"), 11, "nps has a fixed scale"),
        (("    min: 1\n    max: 4\n", "    min: 4\n    max: 1\n"), 14, "0 <= min < max"),
        (("    max_length: 300\n", "    max_length: 300\n    colour: red\n"), 30, "colour: Extra inputs are not permitted"),
        (("fi: Ihmiset}", "sv: Folk}"), 26, "questions.3.choices.1.label: no text in fi"),
        (("    sample: 0.5\n", "    sample: 1.5\n"), 35, "less than or equal to 1"),
        (("  - event: onboarding_finished\n", "  - event: Onboarding Finished\n"), 32, "is not an event type name"),
        (("    delay: 1d\n", "    delay: soon\n"), 33, "is not a duration"),
        (("  - id: comment\n", "  - id: area\n"), 27, "questions.4.id: question id 'area' is used twice"),
        (("    type: scale\n    min: 1\n    max: 4\n", "    type: nps\n"), 15, "questions.2.type: a survey asks nps at most once"),
        (("  fi: Kolme nopeaa kysymystä.\n", ""), 4, "intro: no text in fi"),
        (("    labels: {en: {1: Slow, 4: Fast}", "    labels: {en: {1: Slow, 9: Fast}"), 14, "point 9 is outside the scale 1-4"),
    ],
)
def test_each_problem_names_file_line_and_reason(tmp_path: Path, edit: tuple[str, str], line: int, words: str) -> None:
    old, new = edit
    assert old in GOOD
    write(tmp_path, "onboarding.yaml", GOOD.replace(old, new, 1))
    [problem] = problems_of(tmp_path)
    assert problem.startswith(f"surveys/onboarding.yaml:{line}: "), problem
    assert words in problem, problem


def test_syntax_errors_and_duplicate_ids_across_files_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "id: a\n" + GOOD)
    write(tmp_path, "c.yaml", "title: {en: x\nquestions: [\n")
    found = problems_of(tmp_path)
    assert len(found) == 2
    assert found[0].startswith("surveys/b.yaml:1: id: survey id 'a' is already used by surveys/a.yaml")
    assert found[1].startswith("surveys/c.yaml:") and "not valid YAML" in found[1]


def test_the_catalog_rereads_a_changed_file_and_keeps_the_last_good_one_when_an_edit_breaks_it(tmp_path: Path,
                                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polku.cx.surveys.loader.RECHECK_SECONDS", 0.0)
    path = write(tmp_path, "onboarding.yaml", GOOD)
    catalog = Catalog(tmp_path)
    first = catalog.get("onboarding")
    assert catalog.get("onboarding") is first  # parsed once
    path.write_text(GOOD.replace("How was your onboarding?", "How did it go?"), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert catalog.get("onboarding").title["en"] == "How did it go?"
    path.write_text("title: [broken\n", encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2 * 10**9))
    assert catalog.get("onboarding").title["en"] == "How did it go?"  # links already sent keep working
    assert catalog.error is not None and "surveys/onboarding.yaml:2: (file): not valid YAML" in catalog.error.message


def test_polku_cx_survey_check_and_surveys(tmp_path: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "200"})
    write(tmp_path, "onboarding.yaml", GOOD)
    ok = runner.invoke(app, ["--home", str(tmp_path), "cx", "survey", "check"])
    assert ok.exit_code == 0 and "ok: 1 surveys, 5 questions, 1 triggers, languages en, fi" in ok.output
    listed = runner.invoke(app, ["--home", str(tmp_path), "cx", "surveys"])
    assert listed.exit_code == 0 and "onboarding" in listed.output and "ces, nps, speed" in listed.output
    write(tmp_path, "bad.yaml", GOOD.replace("    type: ces\n", "    type: effort\n"))
    bad = runner.invoke(app, ["--home", str(tmp_path), "cx", "survey", "check"])
    assert bad.exit_code == 1 and "surveys/bad.yaml:9: questions.0.type" in bad.output


def test_the_surveys_package_exports_what_it_means_to() -> None:
    import polku.cx.surveys as surveys

    assert set(surveys.__all__) == {"Asked", "Occasion", "Page", "Question", "Survey", "Surveys", "Trigger", "load_surveys"}
    assert all(hasattr(surveys, name) for name in surveys.__all__)
