"""Where a batch of events comes from when it is not an Arrow table in memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ParquetRange:
    """Rows [start, stop) of a Parquet file with the given columns, for DuckDB to read directly."""

    path: Path
    start: int
    stop: int
    columns: tuple[str, ...]
