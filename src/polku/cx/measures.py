"""The CX measures, exactly as their standard definitions say: NPS, CSAT (top-2-box and mean), CES.

Pure functions over answer scores; every estimate carries its n, a confidence interval and a
small-sample flag. Scale conventions (which end is better) are explicit per measure:

- NPS: "How likely are you to recommend us?" 0-10. NPS = % promoters (9-10) − % detractors
  (0-6), from −100 to 100; higher is better. Its standard error comes from the multinomial
  variance of the promoter/passive/detractor shares: Var = (p_P + p_D − (p_P − p_D)²) / n.
- CSAT: "How satisfied were you?" 1-5. Reported as the share of 4-5 answers (top-2-box, in %,
  Wilson interval) and as the mean (t interval); higher is better.
- CES: customer effort on 1-7 in the CES 2.0 form ("<firm> made it easy for me to handle my
  issue", 1 = strongly disagree, 7 = strongly agree): the mean, higher is better (less effort).
  A workspace whose CES question asks about effort instead ("how much effort...", 1 = very
  little) says ``measures: {ces: {better: lower}}`` in cx.yaml; see ``with_conventions``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from scipy import stats

Better = Literal["higher", "lower"]
DEFAULT_CONFIDENCE: Final = 0.95
DEFAULT_MIN_N: Final = 30


@dataclass(frozen=True)
class Estimate:
    """A measured value with its n, standard error, confidence interval and small-sample flag."""

    measure: str
    value: float | None
    n: int
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = DEFAULT_CONFIDENCE
    method: str = ""
    small_sample: bool = True
    parts: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON-ready values (rounded for reading, not for further arithmetic)."""
        def r(x: float | None, digits: int = 3) -> float | None:
            return None if x is None else round(x, digits)

        return {
            "measure": self.measure, "value": r(self.value), "n": self.n, "se": r(self.se, 4),
            "ci": [r(self.ci_low), r(self.ci_high)] if self.ci_low is not None else None,
            "confidence": self.confidence, "method": self.method, "small_sample": self.small_sample,
            **({"parts": {k: r(v, 4) for k, v in self.parts.items()}} if self.parts else {}),
        }


Estimator = Callable[[Sequence[float], float, int], Estimate]


@dataclass(frozen=True)
class MeasureDef:
    """A CX measure: the answer scale it reads, its unit, which end is better and its estimator."""

    name: str
    answer: str  # the answer measure (``answer_rows().measure``) it reads: nps, csat or ces
    low: float  # the answer scale
    high: float
    unit: str
    better: Better
    value_range: tuple[float, float]  # the range of the measured value (for target checks)
    estimator: Estimator
    description: str

    def estimate(self, scores: Iterable[float], confidence: float = DEFAULT_CONFIDENCE,
                 min_n: int = DEFAULT_MIN_N) -> Estimate:
        """The measure of ``scores`` (answers on this measure's scale; others raise ValueError)."""
        values = check_scale(self.answer, scores, self.low, self.high)
        return replace(self.estimator(values, confidence, min_n), measure=self.name)

    def goodness(self, score: float) -> float:
        """One answer on a 0-1 scale where 1 is the better end (for health and alerts)."""
        g = (score - self.low) / (self.high - self.low)
        return g if self.better == "higher" else 1.0 - g


def check_scale(answer: str, scores: Iterable[float], low: float, high: float) -> list[float]:
    """The scores as floats; a score that is not a number on [low, high] raises ValueError."""
    values = [float(s) for s in scores]
    bad = [s for s in values if not (math.isfinite(s) and low <= s <= high)]
    if bad:
        raise ValueError(f"{answer} answers must be on {low:g}-{high:g}; got {bad[:5]}")
    return values


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.959964 for 95%)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def nps(scores: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N) -> Estimate:
    """Net Promoter Score: % of 9-10 minus % of 0-6, with the multinomial normal interval (clipped to ±100)."""
    values = check_scale("nps", scores, 0, 10)
    n = len(values)
    if n == 0:
        return Estimate("nps", None, 0, confidence=confidence, method="multinomial normal")
    promoters = sum(s >= 9 for s in values) / n
    detractors = sum(s <= 6 for s in values) / n
    score = promoters - detractors
    se = math.sqrt(max(promoters + detractors - score**2, 0.0) / n)
    z = z_value(confidence)
    return Estimate(
        "nps", 100 * score, n, 100 * se, max(-100.0, 100 * (score - z * se)), min(100.0, 100 * (score + z * se)),
        confidence, "multinomial normal", n < min_n,
        {"promoters": promoters, "passives": 1.0 - promoters - detractors, "detractors": detractors},
    )


def wilson(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion (stays inside [0, 1] and works for small n)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one observation")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}), got {successes}")
    z = z_value(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float | None, float | None, float | None]:
    """(mean, standard error, low, high) with Student's t; no interval from fewer than two values."""
    n = len(values)
    if n == 0:
        raise ValueError("a mean needs at least one value")
    mean = float(np.mean(values))
    if n < 2:
        return mean, None, None, None
    se = float(np.std(values, ddof=1)) / math.sqrt(n)
    t = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))
    return mean, se, mean - t * se, mean + t * se


def top_box(measure: str, low: float, high: float, cut: float) -> Estimator:
    """An estimator of the share (in %) of answers at or above ``cut``, with the Wilson interval."""
    def estimate(scores: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N) -> Estimate:
        values = check_scale(measure, scores, low, high)
        n = len(values)
        if n == 0:
            return Estimate(measure, None, 0, confidence=confidence, method="wilson")
        k = sum(s >= cut for s in values)
        lo, hi = wilson(k, n, confidence)
        p = k / n
        return Estimate(measure, 100 * p, n, 100 * math.sqrt(p * (1 - p) / n), 100 * lo, 100 * hi, confidence,
                        "wilson", n < min_n, {"top_box": p})

    return estimate


def scale_mean(measure: str, low: float, high: float) -> Estimator:
    """An estimator of the mean answer with a t interval (clipped to the scale)."""
    def estimate(scores: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N) -> Estimate:
        values = check_scale(measure, scores, low, high)
        if not values:
            return Estimate(measure, None, 0, confidence=confidence, method="t")
        mean, se, lo, hi = mean_interval(values, confidence)
        return Estimate(measure, mean, len(values), se, None if lo is None else max(low, lo),
                        None if hi is None else min(high, hi), confidence, "t", len(values) < min_n)

    return estimate


def csat(scores: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N) -> Estimate:
    """CSAT as the share (%) of 4-5 answers on a 1-5 scale (top-2-box), Wilson interval."""
    return top_box("csat", 1, 5, 4)(scores, confidence, min_n)


def csat_mean(scores: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N) -> Estimate:
    """The mean CSAT answer on 1-5, t interval."""
    return replace(scale_mean("csat", 1, 5)(scores, confidence, min_n), measure="csat_mean")


def ces(scores: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N) -> Estimate:
    """The mean CES answer on 1-7, t interval."""
    return scale_mean("ces", 1, 7)(scores, confidence, min_n)


MEASURES: Final[dict[str, MeasureDef]] = {
    m.name: m
    for m in (
        MeasureDef("nps", "nps", 0, 10, "points", "higher", (-100, 100), nps,
                   "Net Promoter Score: % promoters (9-10) minus % detractors (0-6)"),
        MeasureDef("csat", "csat", 1, 5, "% satisfied", "higher", (0, 100), csat,
                   "CSAT: share of satisfied answers (4-5 on 1-5, top-2-box)"),
        MeasureDef("csat_mean", "csat", 1, 5, "mean of 1-5", "higher", (1, 5), csat_mean,
                   "CSAT: mean answer on 1-5"),
        MeasureDef("ces", "ces", 1, 7, "mean of 1-7", "higher", (1, 7), ces,
                   "CES: mean answer on 1-7 ('made it easy', 7 = least effort)"),
    )
}
# Answer measures the health score reads, each with the measure definition of its scale.
ANSWER_SCALES: Final[dict[str, str]] = {"nps": "nps", "csat": "csat_mean", "ces": "ces"}


def with_conventions(better: Mapping[str, Better]) -> dict[str, MeasureDef]:
    """The measures with some answer scales' better end overridden (e.g. ``{"ces": "lower"}``).

    Overriding an answer measure turns every measure that reads it; NPS and CSAT are fixed by
    their definitions, so only CES may be turned.
    """
    out = dict(MEASURES)
    for answer, side in better.items():
        if answer != "ces":
            raise ValueError(f"only the CES scale's better end can be set, not {answer!r}")
        for name, m in MEASURES.items():
            if m.answer == answer:
                desc = m.description if side == "higher" else "CES: mean answer on 1-7 ('how much effort', 1 = least effort)"
                out[name] = replace(m, better=side, description=desc)
    return out


def summarise(
    answers: pd.DataFrame, measures: Mapping[str, MeasureDef], *, by: str | None = None,
    confidence: float = DEFAULT_CONFIDENCE, min_n: int = DEFAULT_MIN_N,
) -> list[dict[str, Any]]:
    """Every measure of ``answers`` (rows of ``answer_rows``), overall or per value of column ``by``.

    Answers off their measure's scale are left out and counted as ``ignored``.
    """
    groups: list[tuple[Any, pd.DataFrame]] = [(None, answers)] if by is None else [
        (key, part) for key, part in answers.groupby(answers[by].fillna("(unknown)"), sort=True)
    ]
    out = []
    for key, part in groups:
        row: dict[str, Any] = {} if by is None else {by: key}
        for name, m in measures.items():
            scores = part.loc[part["measure"] == m.answer, "score"]
            valid = scores[(scores >= m.low) & (scores <= m.high)]
            row[name] = {**m.estimate(valid.tolist(), confidence, min_n).to_dict(),
                         "ignored": int(len(scores) - len(valid)), "better": m.better, "unit": m.unit}
        out.append(row)
    return out
