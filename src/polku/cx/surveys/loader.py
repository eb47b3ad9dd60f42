"""Loading the workspace's surveys (``surveys/*.yaml``): every problem with its file and line, and a
cache so the answer page never parses YAML on a request.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import Field, model_validator

from polku.cx.surveys.definitions import Id, Survey
from polku.errors import ConfigError, NotFound
from polku.nurture.yamlsrc import parse
from polku.yamlfile import load_model

SURVEYS_DIR: Final[str] = "surveys"
RECHECK_SECONDS: Final[float] = 1.0  # the cache looks at the files' times at most this often


class SurveyFile(Survey):
    """A survey file: its id may be left out (the file name is the id); checks across fields come after, with lines."""

    id: Id | None = Field(default=None)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _whole(self) -> SurveyFile:
        return self


def _files(home: Path) -> list[Path]:
    folder = home / SURVEYS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _rel(home: Path, path: Path) -> str:
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


def _id_line(path: Path) -> int:
    """The line of a file's top-level ``id:`` key (1 if it has none)."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^id\s*:", line):
            return n
    return 1


def _load_one(home: Path, path: Path, problems: list[dict[str, Any]]) -> Survey | None:
    name = _rel(home, path)
    try:
        parsed = load_model(path, SurveyFile)
    except ConfigError as exc:
        if exc.details:
            problems.extend({**d, "file": name} for d in exc.details)
        else:  # a YAML syntax error: "<path>:<line>: not valid YAML (...)"
            text = exc.message.replace(str(path), name, 1)
            where, _, reason = text.partition(": ")
            line = where.rsplit(":", 1)[1] if where.count(":") else "1"
            problems.append({"file": name, "line": int(line) if line.isdigit() else 1, "field": "(file)", "reason": reason})
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append({"file": name, "line": 1, "field": "(file)", "reason": f"cannot read the file: {exc}"})
        return None
    found = parsed.problems()
    if found:
        src = parse(path.read_text(encoding="utf-8"), name)
        problems.extend(src.problem(loc, reason).detail() for loc, reason in found)
        return None
    data = parsed.model_dump()
    data["id"] = parsed.id or path.stem
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", data["id"]):
        problems.append({"file": name, "line": 1, "field": "id",
                         "reason": f"the file name {path.stem!r} is no survey id: add an id of lower-case letters, digits, - or _"})
        return None
    return Survey.model_validate(data)


def load_surveys(home: Path) -> dict[str, Survey]:
    """Every survey of the workspace, checked; raises one ConfigError listing each problem as file:line."""
    problems: list[dict[str, Any]] = []
    found: dict[str, Survey] = {}
    where: dict[str, str] = {}
    for path in _files(home):
        survey = _load_one(home, path, problems)
        if survey is None:
            continue
        if survey.id in found:
            problems.append({"file": _rel(home, path), "line": _id_line(path), "field": "id",
                             "reason": f"survey id {survey.id!r} is already used by {where[survey.id]}"})
            continue
        found[survey.id] = survey
        where[survey.id] = _rel(home, path)
    if problems:
        problems.sort(key=lambda p: (p["file"], p["line"], p["field"]))
        head = f"{len(problems)} problem(s) in the surveys:\n" if len(problems) > 1 else ""
        raise ConfigError(head + "\n".join(f"{p['file']}:{p['line']}: {p['field']}: {p['reason']}" for p in problems),
                          details=problems)
    return found


def _signature(home: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in _files(home):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass
class _Entry:
    signature: tuple[tuple[str, int, int], ...]
    checked: float
    surveys: dict[str, Survey] | None
    error: ConfigError | None


class Catalog:
    """The surveys of one workspace, parsed once and re-read only when a file changes.

    When an edit breaks a file, the last good surveys keep serving (links already sent still
    work) and ``error`` says what is wrong; with no good version yet, ``surveys()`` raises.
    """

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self._lock = threading.Lock()
        self._entry: _Entry | None = None
        self._good: dict[str, Survey] | None = None

    def _current(self) -> _Entry:
        entry = self._entry
        now = time.monotonic()
        if entry is not None and now - entry.checked < RECHECK_SECONDS:
            return entry
        with self._lock:
            entry = self._entry
            signature = _signature(self.home)
            if entry is not None and entry.signature == signature:
                entry.checked = now
                return entry
            try:
                surveys, error = load_surveys(self.home), None
                self._good = surveys
            except ConfigError as exc:
                surveys, error = None, exc
            self._entry = _Entry(signature, now, surveys, error)
            return self._entry

    @property
    def error(self) -> ConfigError | None:
        """What is wrong with the files now, if anything."""
        return self._current().error

    def surveys(self) -> dict[str, Survey]:
        """Every survey (the last good version when the files are broken now)."""
        entry = self._current()
        if entry.surveys is not None:
            return entry.surveys
        if self._good is not None:
            return self._good
        assert entry.error is not None
        raise entry.error

    def get(self, survey_id: str) -> Survey:
        """One survey by id; NotFound names the surveys there are."""
        surveys = self.surveys()
        survey = surveys.get(survey_id)
        if survey is None:
            known = ", ".join(sorted(surveys)) or f"none: add files under {SURVEYS_DIR}/"
            raise NotFound(f"no survey {survey_id!r} (surveys: {known})")
        return survey


_CATALOGS: dict[Path, Catalog] = {}
_CATALOGS_LOCK = threading.Lock()


def catalog(home: Path) -> Catalog:
    """The process's one catalog of a workspace folder."""
    key = Path(home).resolve()
    with _CATALOGS_LOCK:
        found = _CATALOGS.get(key)
        if found is None:
            found = _CATALOGS[key] = Catalog(key)
        return found
