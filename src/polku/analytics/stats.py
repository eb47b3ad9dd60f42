"""Small statistics shared by the analytics: intervals for proportions and their comparisons.

Every function is vectorised over NumPy arrays (scalars work too) and returns NaN where
the answer is undefined (no trials), so aggregated tables with empty groups pass through.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import stats as _scipy_stats

__all__ = [
    "DEFAULT_CONFIDENCE",
    "rate",
    "risk_ratio_interval",
    "rate_difference_interval",
    "wilson_interval",
    "z_value",
]

DEFAULT_CONFIDENCE: Final[float] = 0.95

ArrayLike = npt.ArrayLike
Floats = npt.NDArray[np.float64]


def z_value(confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The two-sided standard-normal quantile for a confidence level in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(_scipy_stats.norm.ppf(0.5 + confidence / 2.0))


def _floats(x: ArrayLike) -> Floats:
    return np.asarray(x, dtype=np.float64)


def rate(successes: ArrayLike, trials: ArrayLike) -> Floats:
    """successes / trials, NaN where there were no trials."""
    k, n = _floats(successes), _floats(trials)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, k / np.where(n > 0, n, 1.0), np.nan)


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[Floats, Floats]:
    """Wilson score interval (low, high) of a binomial proportion; NaN where trials is 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and behaves at 0 and n.
    """
    k, n = _floats(successes), _floats(trials)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("successes must be between 0 and trials")
    z = z_value(confidence)
    safe_n = np.where(n > 0, n, 1.0)
    p = k / safe_n
    denom = 1.0 + z * z / safe_n
    centre = (p + z * z / (2.0 * safe_n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / safe_n + z * z / (4.0 * safe_n * safe_n)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # Exact bounds at the edges (the formula gives them up to rounding).
    low = np.where((n > 0) & (k == 0), 0.0, low)
    high = np.where((n > 0) & (k == n), 1.0, high)
    return low, high


def rate_difference_interval(
    k1: ArrayLike, n1: ArrayLike, k2: ArrayLike, n2: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[Floats, Floats, Floats]:
    """p1 - p2 with Newcombe's hybrid score interval (method 10) for independent samples."""
    p1, p2 = rate(k1, n1), rate(k2, n2)
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    diff = p1 - p2
    low = diff - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return diff, low, high


def risk_ratio_interval(
    k1: ArrayLike, n1: ArrayLike, k2: ArrayLike, n2: ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[Floats, Floats, Floats]:
    """p1 / p2 with the Katz log interval; adds 0.5 to every cell when a count is 0."""
    a, n1f, c, n2f = _floats(k1), _floats(n1), _floats(k2), _floats(n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rate(a, n1f) / rate(c, n2f)
    zero = (a == 0) | (c == 0) | (a == n1f) | (c == n2f)
    a_, c_ = np.where(zero, a + 0.5, a), np.where(zero, c + 0.5, c)
    n1_, n2_ = np.where(zero, n1f + 1.0, n1f), np.where(zero, n2f + 1.0, n2f)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rr = np.log((a_ / n1_) / (c_ / n2_))
        se = np.sqrt(1.0 / a_ - 1.0 / n1_ + 1.0 / c_ - 1.0 / n2_)
    z = z_value(confidence)
    defined = (n1f > 0) & (n2f > 0)
    low = np.where(defined, np.exp(log_rr - z * se), np.nan)
    high = np.where(defined, np.exp(log_rr + z * se), np.nan)
    ratio = np.where(defined, ratio, np.nan)
    return ratio, low, high
