"""YAML documents that remember where each value came from, so every problem names file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from polku.errors import ConfigError

Loc = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: one pass gives nodes and data
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, with the place it was found."""

    file: str
    line: int
    field: str
    reason: str

    def text(self) -> str:
        """The problem as one line, `file:line: field: reason`."""
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"

    def detail(self) -> dict[str, Any]:
        """The problem as an error detail (the API's shape)."""
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class Source:
    """A parsed YAML document: its data, the line of every key and value, and block-scalar offsets."""

    name: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    text_start: dict[Loc, int] = field(default_factory=dict)  # first line of a string value's own text

    def line(self, loc: Loc) -> int:
        """The line of ``loc``, or of its nearest enclosing value."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return 1

    def problem(self, loc: Loc, reason: str) -> Problem:
        """A problem located at ``loc``."""
        return Problem(self.name, self.line(loc), ".".join(str(p) for p in loc) or "(top)", reason)


def _walk(node: yaml.Node, loc: Loc, src: Source) -> None:
    src.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        # a block scalar's text starts on the line after its | or > indicator
        src.text_start[loc] = node.start_mark.line + 1 + (1 if node.style in ("|", ">") else 0)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            src.lines[(*loc, key.value)] = key.start_mark.line + 1
            _walk(value, (*loc, key.value), src)
            src.lines[(*loc, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _walk(value, (*loc, i), src)


def parse(text: str, name: str) -> Source:
    """Parse YAML text; a syntax error is a ConfigError naming the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = Problem(name, line, "(file)", f"not valid YAML ({getattr(exc, 'problem', None) or exc})")
        raise ConfigError(problem.text(), details=[problem.detail()]) from exc
    finally:
        loader.dispose()
    src = Source(name=name, data=data)
    if node is not None:
        _walk(node, (), src)
    return src


def validate(src: Source, model: type[M], data: Any, base: Loc = ()) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` (found at ``base`` in ``src``) as ``model``; problems carry lines."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc: Loc = (*base, *(p for p in err["loc"] if not _is_union_tag(p)))
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown field (check the spelling; see docs/nurture.md)"
            problems.append(src.problem(loc, reason))
        return None, problems


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "dict", "list"})


def _is_union_tag(part: str | int) -> bool:
    """Pydantic adds a union member's name to error locations; it is no key of the file."""
    if not isinstance(part, str):
        return False
    return part.startswith("function-") or "[" in part or part in _TYPE_TAGS or part[:1].isupper()


def raise_problems(problems: list[Problem], what: str) -> None:
    """Raise one ConfigError listing every problem, or return when there is none."""
    if not problems:
        return
    ordered = sorted(set(problems), key=lambda p: (p.file, p.line, p.field, p.reason))
    head = f"{len(ordered)} problem(s) in {what}:\n" if len(ordered) > 1 else ""
    raise ConfigError(head + "\n".join(p.text() for p in ordered), details=[p.detail() for p in ordered])
