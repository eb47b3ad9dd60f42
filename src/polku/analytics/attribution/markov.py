"""Markov-chain attribution: the removal effect of each channel on an absorbing chain.

The journeys become a chain with a start state, one transient state per channel (per
sequence of the last ``order`` channels for higher orders) and two absorbing states,
conversion and null. The probability of conversion from the start is solved exactly
with sparse linear algebra, (I - Q) x = r, rather than estimated by simulating paths.
Removing a channel sends every visit to a state that contains it to null; its removal
effect is 1 - P(conversion without it) / P(conversion), and the total conversions are
shared in proportion to the removal effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from polku.analytics.attribution.pathset import PathSet
from polku.errors import InvalidInput

_DENSE_KEYS: Final[int] = 1 << 22  # state keys looked up in a table up to this many
_DENSE_STATES: Final[int] = 2048  # transition counts built as a dense matrix up to this many


@dataclass(frozen=True)
class Chain:
    """An absorbing Markov chain over the path states; state 0 is the start."""

    q: sp.csr_matrix  # transient -> transient transition probabilities
    r: np.ndarray  # transient -> conversion probabilities
    contains: sp.csc_matrix  # [state, label]: 1 where the state's history holds the label

    def conversion_probability(self, removed: np.ndarray | None = None) -> float:
        """P(reaching conversion from the start), with the states in ``removed`` leading to null."""
        q, r = self.q, self.r
        if removed is not None:
            keep = sp.diags((~removed).astype(np.float64))
            q, r = keep @ q, r * ~removed
        n = q.shape[0]
        x = spsolve(sp.identity(n, format="csc") - q.tocsc(), r)
        return float(np.atleast_1d(x)[0])


def build_chain(paths: PathSet, order: int = 1) -> Chain:
    """The chain of ``paths``: transitions counted with each path's weight (conversions + nulls)."""
    weight = paths.conversions + paths.nulls
    state, n_states, contains = _states(paths, order)
    starts = paths.offsets[:-1]
    ends = paths.offsets[1:] - 1
    inner = np.ones(len(paths.codes), dtype=bool)
    inner[ends] = False  # no transition out of a path's last step to another step
    rows = np.concatenate([np.zeros(len(paths), np.int64), state[inner]])
    cols = np.concatenate([state[starts], state[np.flatnonzero(inner) + 1]])
    w = np.concatenate([weight, weight[paths.path_index[inner]]])
    counts = _count(rows, cols, w, n_states)
    to_conv = np.bincount(state[ends], weights=paths.conversions, minlength=n_states)
    to_null = np.bincount(state[ends], weights=paths.nulls, minlength=n_states)
    out = np.asarray(counts.sum(axis=1)).ravel() + to_conv + to_null
    inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
    q = sp.diags(inv) @ counts
    return Chain(q=q.tocsr(), r=to_conv * inv, contains=contains)


def _states(paths: PathSet, order: int) -> tuple[np.ndarray, int, sp.csc_matrix]:
    """Each step's state id (1..n-1; 0 is the start), the number of states and their labels."""
    m = len(paths.labels)
    if (m + 1) ** order >= 2**62:
        reason = f"order {order} is too high for {m} channels or types"
        raise InvalidInput(f"markov_order: {reason}", details=[{"field": "markov_order", "reason": reason}])
    history = _history(paths, order)
    key = history @ ((m + 1) ** np.arange(order, dtype=np.int64))
    uniq, inverse = _compact(key, (m + 1) ** order)
    first = np.zeros(len(uniq), dtype=np.int64)
    first[inverse] = np.arange(len(key))  # one step of each state
    codes = history[first]  # [state, lag]: label code + 1, or 0
    rows = np.repeat(np.arange(1, len(uniq) + 1), order)
    cols = codes.reshape(-1) - 1
    ok = cols >= 0
    contains = sp.coo_matrix(
        (np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(len(uniq) + 1, m)
    ).tocsc()
    return inverse + 1, len(uniq) + 1, contains


def _history(paths: PathSet, order: int) -> np.ndarray:
    """[step, lag]: the label code + 1 of the step ``lag`` places back in its path (0 before the start)."""
    pos = np.arange(len(paths.codes)) - np.repeat(paths.offsets[:-1], paths.lengths)
    history = np.zeros((len(paths.codes), order), dtype=np.int64)
    for lag in range(order):
        ok = np.flatnonzero(pos >= lag)
        history[ok, lag] = paths.codes[ok - lag] + 1
    return history


def _compact(key: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and each key's index among them; by table lookup when small."""
    if space > _DENSE_KEYS:
        uniq, inverse = np.unique(key, return_inverse=True)
        return uniq, inverse.reshape(-1).astype(np.int64)
    present = np.zeros(space, dtype=bool)
    present[key] = True
    index = np.cumsum(present) - 1
    return np.flatnonzero(present), index[key]


def _count(rows: np.ndarray, cols: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """Weighted transition counts [from, to] as a sparse matrix (built densely when small)."""
    if n <= _DENSE_STATES:
        dense = np.bincount(rows * n + cols, weights=w, minlength=n * n).reshape(n, n)
        return sp.csr_matrix(dense)
    return sp.coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()


def markov(paths: PathSet | pd.DataFrame, order: int = 1) -> pd.DataFrame:
    """Markov removal-effect credit per channel: columns credit (conversions) and removal_effect."""
    if isinstance(paths, pd.DataFrame):
        paths = PathSet.from_frame(paths)
    if not 1 <= order <= 4:
        reason = f"must be 1 to 4, got {order}"
        raise InvalidInput(f"markov_order: {reason}", details=[{"field": "markov_order", "reason": reason}])
    labels = pd.Index(paths.labels, name="label")
    total = float(paths.conversions.sum())
    if total <= 0:
        return pd.DataFrame({"credit": 0.0, "removal_effect": 0.0}, index=labels)
    chain = build_chain(paths, order)
    base = chain.conversion_probability()
    effect = np.empty(len(labels))
    for code in range(len(labels)):
        removed = chain.contains[:, code].toarray().ravel() > 0
        effect[code] = 1.0 - chain.conversion_probability(removed) / base
    effect = np.clip(effect, 0.0, 1.0)  # rounding can leave -1e-16
    share = effect / effect.sum() if effect.sum() > 0 else np.full(len(effect), 1.0 / len(effect))
    credit = total * share
    return pd.DataFrame({"credit": credit, "removal_effect": effect}, index=labels)
