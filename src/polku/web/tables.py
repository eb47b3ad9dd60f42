"""Named tables: what a page shows as an HTML table and what its CSV export writes, defined once."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from starlette.responses import StreamingResponse

from polku.errors import NotFound

Row = Mapping[str, Any]
# A spreadsheet runs a cell that starts with one of these as a formula; exports defuse them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column: the row key, its header, how to show it, and an optional link per row."""

    key: str
    label: str
    kind: str = "text"  # text, number, when (date and time), date
    href: Callable[[Row], str | None] | None = None


@dataclass(frozen=True)
class Table:
    """A titled table of rows; ``name`` is its id on the page and in ``?export=name``."""

    name: str
    title: str
    columns: Sequence[Column]
    rows: Sequence[Row]
    note: str = ""
    empty: str = "Nothing to show."
    extra: Mapping[str, Any] = field(default_factory=dict)


def cell_text(value: Any) -> str:
    """A value as CSV text: ISO dates and times, JSON for lists and objects, empty for None."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _safe(text: str, value: Any) -> str:
    """Text that a spreadsheet shows as text: a leading formula character gets a quote in front."""
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def _lines(table: Table) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([c.key for c in table.columns])
    yield flush()
    for row in table.rows:
        writer.writerow([_safe(cell_text(row.get(c.key)), row.get(c.key)) for c in table.columns])
        yield flush()


def csv_response(table: Table, filename: str) -> StreamingResponse:
    """The table as a CSV download (UTF-8, a header of column keys)."""
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in filename)
    return StreamingResponse(
        _lines(table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe_name}.csv"'},
    )


def pick(tables: Iterable[Table], name: str) -> Table:
    """The table called ``name``; NotFound names the tables there are."""
    found = {t.name: t for t in tables}
    if name not in found:
        raise NotFound(f"no table {name!r} on this page; tables: {', '.join(found) or 'none'}")
    return found[name]
