"""Reading event files (CSV, JSON Lines, Parquet) as validated Arrow batches with line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import ValidationError

from polku.collect.columns import EVENT_SCHEMA, check_columns
from polku.collect.sources import ParquetRange
from polku.errors import InvalidInput
from polku.model import EventIn, utcnow

FORMATS: Final[dict[str, str]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
BATCH_ROWS: Final[int] = 500_000


@dataclass(frozen=True)
class Chunk:
    """A slice of a file: its rows as columns, the line of its first row, and rows already refused."""

    table: pa.Table | ParquetRange
    first_line: int
    rows: int
    rejects: list[tuple[int, str]] = field(default_factory=list)
    lines: list[int] | None = None  # the line of each row of table, when rows are not consecutive
    validated: bool = False  # rows already passed the pydantic models

    def line_of(self, row: int) -> int:
        """The file line of a row numbered from first_line."""
        return self.lines[row - self.first_line] if self.lines is not None else row


def detect_format(path: Path, given: str | None = None) -> str:
    """The file's format, from --format or its suffix; the file must exist."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    fmt = given or FORMATS.get(path.suffix.lower())
    if fmt not in ("csv", "jsonl", "parquet"):
        raise InvalidInput(
            f"cannot tell the format of {path.name}; use a .csv, .jsonl or .parquet file or --format"
        )
    return fmt


def count_rows(path: Path, fmt: str) -> int:
    """How many data rows the file holds (for progress bars)."""
    if fmt == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        lines = sum(1 for line in f if line.strip())
    return max(lines - (1 if fmt == "csv" else 0), 0)


def read_chunks(path: Path, fmt: str) -> Iterator[Chunk]:
    """Chunks of the file, rows numbered as a person counts lines in it."""
    if fmt == "parquet":
        yield from _parquet(path)
    elif fmt == "csv":
        yield from _csv(path)
    else:
        yield from _jsonl(path)


def _parquet(path: Path) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{path.name} is not a readable Parquet file: {exc}") from exc
    names = pf.schema_arrow.names
    check_columns(names)
    total = pf.metadata.num_rows
    for start in range(0, total, BATCH_ROWS):
        stop = min(start + BATCH_ROWS, total)
        yield Chunk(ParquetRange(path, start, stop, tuple(names)), start + 1, stop - start)


def _csv(path: Path) -> Iterator[Chunk]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise InvalidInput(f"{path.name} is empty: a CSV file needs a header line")
    names = [h.strip() for h in header]
    check_columns(names)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=64 << 20, column_names=names, skip_rows=1),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True
        ),
    )
    line = 2
    try:
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield Chunk(table, line, table.num_rows)
            line += table.num_rows
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{path.name}: malformed CSV near line {line}: {exc}") from exc


def _jsonl(path: Path) -> Iterator[Chunk]:
    now = utcnow()
    rows: list[dict[str, object]] = []
    lines: list[int] = []
    rejects: list[tuple[int, str]] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                item = orjson.loads(raw)
                if not isinstance(item, dict):
                    raise InvalidInput("a line must hold one JSON object")
                event = EventIn.model_validate(item)
            except orjson.JSONDecodeError as exc:
                rejects.append((number, f"not valid JSON ({exc.args[0]})"))
                continue
            except InvalidInput as exc:
                rejects.append((number, exc.message))
                continue
            except ValidationError as exc:
                rejects.append((number, describe(exc)))
                continue
            row = event.row(now)
            row["properties"] = orjson.dumps(row["properties"]).decode()
            if event.event_id is None:
                row["event_id"] = "j" + _content_id(raw)
            rows.append(row)
            lines.append(number)
            if len(rows) + len(rejects) >= BATCH_ROWS:
                yield _jsonl_chunk(rows, lines, rejects)
                rows, lines, rejects = [], [], []
    if rows or rejects:
        yield _jsonl_chunk(rows, lines, rejects)


def _content_id(raw: bytes) -> str:
    import hashlib

    return hashlib.md5(raw.strip()).hexdigest()


def _jsonl_chunk(rows: list[dict[str, object]], lines: list[int], rejects: list[tuple[int, str]]) -> Chunk:
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    return Chunk(table, 0, len(rows) + len(rejects), rejects, lines, validated=True)


def describe(exc: ValidationError) -> str:
    """A pydantic error as one line: 'field: reason; field: reason'."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """A pydantic error as a list of {field, reason}."""
    return [
        {
            "field": ".".join(str(p) for p in e["loc"]) or "event",
            "reason": e["msg"].removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
