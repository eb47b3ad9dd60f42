"""Reading workspace YAML files with line numbers, so errors can name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from polku.errors import ConfigError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def _lines(node: yaml.Node, loc: Loc, out: dict[Loc, int]) -> None:
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[(*loc, k.value)] = k.start_mark.line + 1
            _lines(v, (*loc, k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, (*loc, i), out)


def load_model(path: Path, model: type[M]) -> M:
    """Parse a YAML file into a pydantic model; any problem is a ConfigError naming the line."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{at}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    lines: dict[Loc, int] = {}
    if node is not None:
        _lines(node, (), lines)
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc: Loc = tuple(err["loc"])
            line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 1)
            where = ".".join(str(p) for p in loc) or "(top)"
            reason = err["msg"].removeprefix("Value error, ")
            problems.append({"file": str(path), "line": line, "field": where, "reason": reason})
        raise ConfigError(
            "\n".join(f"{p['file']}:{p['line']}: {p['field']}: {p['reason']}" for p in problems),
            details=problems,
        ) from exc
