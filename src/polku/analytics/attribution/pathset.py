"""Aggregated journeys as integer arrays: the input of the Markov and Shapley models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from polku.errors import InvalidInput

SEP: Final[str] = " > "


@dataclass(frozen=True)
class PathSet:
    """Distinct paths as one flat array of label codes, with conversions and nulls per path."""

    labels: tuple[str, ...]  # code -> channel (or type), sorted
    codes: np.ndarray  # int64, every path's labels one after another
    offsets: np.ndarray  # int64, len(paths) + 1; path i is codes[offsets[i]:offsets[i + 1]]
    conversions: np.ndarray  # float64 per path
    nulls: np.ndarray  # float64 per path

    def __len__(self) -> int:
        """Number of distinct paths."""
        return len(self.conversions)

    @property
    def lengths(self) -> np.ndarray:
        """Touchpoints per path."""
        return np.diff(self.offsets)

    @property
    def path_index(self) -> np.ndarray:
        """For each entry of ``codes``, the path it belongs to."""
        return np.repeat(np.arange(len(self)), self.lengths)

    @classmethod
    def from_frame(
        cls, paths: pd.DataFrame, *, path: str = "path", conversions: str = "conversions",
        nulls: str = "nulls", sep: str = SEP,
    ) -> PathSet:
        """Parse a frame of (path text, conversions, nulls); empty paths and zero rows drop out."""
        for column in (path, conversions, nulls):
            if column not in paths.columns:
                raise InvalidInput(f"paths: no column {column!r} (columns: {list(paths.columns)})")
        conv = _counts(paths[conversions], conversions)
        null = _counts(paths[nulls], nulls)
        text = _texts(paths[path], path)
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)
        keep = (conv + null > 0) & ~np.asarray(pc.fill_null(blank, True))
        split = pc.split_pattern(text.filter(pa.array(keep)), sep.strip() or sep)
        labels, codes = _encode(split.flatten())
        if "" in labels:
            raise InvalidInput(f"paths: a path has an empty step (two separators {sep!r} in a row)")
        offsets = np.asarray(split.offsets.to_numpy(), dtype=np.int64)
        return cls(labels, codes, offsets - offsets[0], conv[keep], null[keep])


def _texts(column: pd.Series, name: str) -> pa.Array:
    """The path column as an Arrow string array."""
    try:
        text = pa.array(column, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"paths: column {name!r} must hold text") from exc
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _encode(items: pa.Array) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted distinct labels (spaces trimmed) and each item's code.

    The items are hashed, not sorted; only the few distinct raw items are trimmed.
    """
    encoded = pc.dictionary_encode(items)
    raw = [str(x).strip() for x in encoded.dictionary.to_pylist()]
    labels, code_of_raw = np.unique(np.asarray(raw, dtype=object), return_inverse=True)
    codes = code_of_raw.reshape(-1).astype(np.int64)[np.asarray(encoded.indices.to_numpy(), dtype=np.int64)]
    return tuple(str(x) for x in labels), codes


def _counts(column: pd.Series, name: str) -> np.ndarray:
    """A count column as float64, rejecting missing, negative and non-finite values."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InvalidInput(f"paths: column {name!r} must hold finite counts >= 0")
    return values
