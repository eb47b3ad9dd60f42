"""Wilson and Newcombe intervals against published values, and their edge cases."""

from __future__ import annotations

import pytest

from polku.nurture.stats import lift, wilson


def test_wilson_matches_newcombe_1998_table() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857-872, table I: 81/263 -> 0.2553 to 0.3662
    low, high = wilson(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10) == (pytest.approx(0.0, abs=1e-12), pytest.approx(0.2775, abs=1e-4))


def test_newcombe_difference_matches_the_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, method 10: 56/70 - 48/80 -> 0.0524 to 0.3339
    result = lift(56, 70, 48, 80)
    assert result.estimate == pytest.approx(0.2)
    assert (round(result.low, 4), round(result.high, 4)) == (0.0524, 0.3339)
    assert result.excludes_zero()
    # 9/10 - 3/10 -> 0.1705 to 0.8090
    edge = lift(9, 10, 3, 10)
    assert (round(edge.low, 4), round(edge.high, 4)) == (0.1705, 0.8090)


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="both the journey and its holdout"):
        lift(1, 10, 0, 0)
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson(11, 10)
