"""An in-memory set of 64-bit event keys, for deduplication without a database index.

DuckDB's primary-key index costs more than the whole rest of a bulk import (see
docs/decisions/0002-dedupe-without-index.md), so the writer keeps the keys of stored
events as sorted NumPy runs, merged log-structured. A key hit only says "maybe": the
caller confirms it against the stored event ids, so a hash collision never drops an event.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.uint64]

_MAX_RUNS = 6


class KeyIndex:
    """Sorted runs of uint64 keys with vectorised membership tests."""

    def __init__(self, keys: Keys | None = None) -> None:
        self._runs: list[Keys] = []
        if keys is not None and len(keys):
            self._runs.append(np.sort(keys.astype(np.uint64, copy=False)))

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def contains(self, keys: Keys) -> npt.NDArray[np.bool_]:
        """For each key, whether it may already be stored."""
        order = np.argsort(keys, kind="stable")  # sorted probes search far faster
        found = np.zeros(len(keys), dtype=bool)
        found[order] = self.contains_sorted(keys[order])
        return found

    def contains_sorted(self, keys: Keys) -> npt.NDArray[np.bool_]:
        """Like contains, for keys already in ascending order."""
        hit = np.zeros(len(keys), dtype=bool)
        for run in self._runs:
            if not len(keys):
                break
            pos = np.searchsorted(run, keys)
            pos[pos == len(run)] = 0
            hit |= run[pos] == keys
        return hit

    def add(self, keys: Keys) -> None:
        """Add keys of newly stored events."""
        if not len(keys):
            return
        self._runs.append(np.sort(keys.astype(np.uint64, copy=False)))
        self._runs.sort(key=len)
        while len(self._runs) > _MAX_RUNS:
            a, b = self._runs.pop(0), self._runs.pop(0)
            self._runs.append(np.sort(np.concatenate([a, b]), kind="stable"))
            self._runs.sort(key=len)
