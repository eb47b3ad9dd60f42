"""Confidence intervals for the lift of a journey over its holdout (pure functions).

A proportion's interval is Wilson's score interval; the difference of two independent
proportions uses Newcombe's hybrid score interval (Newcombe 1998, method 10), which keeps
close to its nominal coverage for small samples and rates near 0 or 1, where the plain
Wald interval does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (1.96 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion; (0, 1) when n is 0."""
    if successes < 0 or n < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = z_for(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Lift:
    """The difference treated minus control in goal rate, with its confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float

    def excludes_zero(self) -> bool:
        """Whether the interval rules out no effect."""
        return self.low > 0.0 or self.high < 0.0


def lift(treated: int, n_treated: int, control: int, n_control: int, confidence: float = 0.95) -> Lift:
    """Newcombe's hybrid score interval for p_treated - p_control."""
    if n_treated == 0 or n_control == 0:
        raise ValueError("a lift needs enrolments in both the journey and its holdout")
    p1, p2 = treated / n_treated, control / n_control
    l1, u1 = wilson(treated, n_treated, confidence)
    l2, u2 = wilson(control, n_control, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Lift(d, max(-1.0, low), min(1.0, high), confidence)
