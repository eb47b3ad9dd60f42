"""Shapley-value attribution over channel sets, exact (channels are few).

Characteristic function (the "exposure lift"): for a set S of channels,
v(S) = conversion rate of the journeys that touched at least every channel of S,
so v(empty set) is the overall conversion rate. The Shapley value of channel c
within the channel set T of a converting journey is its average marginal lift
v(S + c) - v(S) over the orders of T; every subset of an observed T has been
observed (T's own journeys touched it), so no coalition value is guessed. Each
conversion of a journey with set T is shared in proportion to the positive Shapley
values of T's channels (equally when none is positive), so the credits add up to
the conversions. A channel present in every journey lifts nothing and gets little
credit however often it is touched; a channel whose journeys convert far more often
gets much. The rates come from the data, so this is correlation, not causation.
"""

from __future__ import annotations

from math import factorial
from typing import Final

import numpy as np
import pandas as pd

from polku.analytics.attribution.pathset import PathSet
from polku.errors import InvalidInput

MAX_LABELS: Final[int] = 20  # 2**20 coalitions held as one array
_CHUNK: Final[int] = 1 << 22  # coalition values evaluated at once


def channel_sets(paths: PathSet) -> np.ndarray:
    """Each path's set of channels as a bit mask."""
    bits = np.left_shift(np.int64(1), paths.codes)
    return np.bitwise_or.reduceat(bits, paths.offsets[:-1]) if len(paths) else bits[:0]


def exposure_values(masks: np.ndarray, conversions: np.ndarray, total: np.ndarray, m: int) -> np.ndarray:
    """v(S) for every mask S: conversion rate of journeys whose set contains S (0 when none)."""
    conv = np.bincount(masks, weights=conversions, minlength=1 << m)
    seen = np.bincount(masks, weights=total, minlength=1 << m)
    for bit in range(m):  # sums over supersets, one channel at a time
        for a in (conv, seen):
            view = a.reshape(-1, 2, 1 << bit)
            view[:, 0, :] += view[:, 1, :]
    return np.divide(conv, seen, out=np.zeros_like(conv), where=seen > 0)


def _weights(k: int) -> np.ndarray:
    """Shapley weight |S|! (k - |S| - 1)! / k! of a coalition S of size 0..k-1 without the player."""
    return np.array([factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)])


def _deposit(local: np.ndarray, sets: np.ndarray, k: int) -> np.ndarray:
    """Global masks [set, local]: local bit j stands for the j-th lowest channel of each set."""
    out = np.zeros((len(sets), len(local)), dtype=np.int64)
    rest = sets.copy()
    for j in range(k):
        low = rest & -rest  # the lowest remaining channel bit of each set
        rest ^= low
        out |= np.where((local >> j) & 1, low[:, None], 0)
    return out


def shapley_values(sets: np.ndarray, k: int, values: np.ndarray) -> np.ndarray:
    """Shapley values [set, j] of the j-th lowest channel of each k-channel set under ``values``."""
    local = np.arange(1 << k, dtype=np.int64)
    size = np.array([bin(x).count("1") for x in range(1 << k)])
    w = _weights(k)
    out = np.zeros((len(sets), k))
    step = max(1, _CHUNK >> k)
    for lo in range(0, len(sets), step):
        v = values[_deposit(local, sets[lo:lo + step], k)]
        for j in range(k):
            without = local[(local >> j) & 1 == 0]
            gain = v[:, without | (1 << j)] - v[:, without]
            out[lo:lo + step, j] = gain @ w[size[without]]
    return out


def shapley(paths: PathSet | pd.DataFrame) -> pd.DataFrame:
    """Shapley credit per channel (column credit, in conversions) under the exposure lift."""
    if isinstance(paths, pd.DataFrame):
        paths = PathSet.from_frame(paths)
    m = len(paths.labels)
    labels = pd.Index(paths.labels, name="label")
    if m > MAX_LABELS:
        reason = (
            f"{m} distinct channels or types in the paths; exact Shapley values take at most "
            f"{MAX_LABELS} (narrow include_channels, or attribute by channel)"
        )
        raise InvalidInput(f"shapley: {reason}", details=[{"field": "models", "reason": reason}])
    credit = np.zeros(m)
    if m == 0 or paths.conversions.sum() <= 0:
        return pd.DataFrame({"credit": credit}, index=labels)
    masks = channel_sets(paths)
    values = exposure_values(masks, paths.conversions, paths.conversions + paths.nulls, m)
    conv = np.bincount(masks, weights=paths.conversions, minlength=1 << m)
    converting = np.flatnonzero(conv > 0)
    sizes = np.array([bin(int(x)).count("1") for x in converting])
    for k in np.unique(sizes):
        sets = converting[sizes == k]
        phi = np.clip(shapley_values(sets, int(k), values), 0.0, None)
        total = phi.sum(axis=1, keepdims=True)
        share = np.divide(phi, total, out=np.full_like(phi, 1.0 / k), where=total > 0)
        _spread(credit, sets, int(k), conv[sets][:, None] * share)
    return pd.DataFrame({"credit": credit}, index=labels)


def _spread(credit: np.ndarray, sets: np.ndarray, k: int, amount: np.ndarray) -> None:
    """Add amount[set, j] to the credit of the j-th lowest channel of each set."""
    rest = sets.copy()
    for j in range(k):
        low = rest & -rest
        rest ^= low
        np.add.at(credit, np.log2(low).astype(np.int64), amount[:, j])
