"""The score-and-grade matrix: fit as a letter (A best), engagement as a digit (1 best),
and one combined number, so sales can tell a perfect-fit sleeper ("A4") from a busy
student ("D1") and still sort by one score.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from polku.scoring.rules import GradeSettings

FIT_LETTERS: Final[str] = "ABCD"
ENGAGEMENT_DIGITS: Final[str] = "1234"


def _band(values: npt.NDArray[np.float64], thresholds: list[float]) -> npt.NDArray[np.int64]:
    """0 at or above the first threshold, 1 at or above the second, ..., 3 below the last."""
    return (np.asarray(values, dtype=np.float64)[..., None] < np.asarray(thresholds)).sum(axis=-1)


def fit_grades(fit: npt.NDArray[np.float64], g: GradeSettings) -> npt.NDArray[np.str_]:
    """Fit grades A-D."""
    return np.array(list(FIT_LETTERS))[_band(fit, g.fit)]


def engagement_grades(engagement: npt.NDArray[np.float64], g: GradeSettings) -> npt.NDArray[np.str_]:
    """Engagement grades 1-4."""
    return np.array(list(ENGAGEMENT_DIGITS))[_band(engagement, g.engagement)]


def combined(
    fit: npt.NDArray[np.float64] | float, engagement: npt.NDArray[np.float64] | float, g: GradeSettings
) -> npt.NDArray[np.float64]:
    """The combined 0-100 score: fit and engagement weighted by ``fit_weight``."""
    return g.fit_weight * np.asarray(fit, dtype=np.float64) + (1.0 - g.fit_weight) * np.asarray(
        engagement, dtype=np.float64
    )


def grade(fit: float, engagement: float, g: GradeSettings) -> str:
    """The matrix cell of one contact, e.g. "A1"."""
    return str(fit_grades(np.array([fit]), g)[0]) + str(engagement_grades(np.array([engagement]), g)[0])
