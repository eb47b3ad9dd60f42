"""Durations written as `30m`, `12h`, `3d` or `2w`, held as whole seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FORM = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(value: Any) -> int:
    """Seconds of a duration such as `3d`; raises ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number and a unit, e.g. 30m, 12h, 3d or 2w")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return value
    match = _FORM.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a duration; write a number and a unit: 30m, 12h, 3d or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest exact text of a duration (`3d`, `90m`)."""
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[int, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
