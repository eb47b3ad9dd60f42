"""NPS, CSAT and CES exactly as their definitions say, on hand-made answers with hand-worked intervals."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from polku.cx.measures import MEASURES, ces, csat, csat_mean, nps, summarise, wilson, with_conventions


def test_nps_ten_answers_five_promoters_two_detractors() -> None:
    est = nps([10, 9, 9, 10, 9, 7, 8, 8, 3, 6])
    assert est.value == pytest.approx(30.0)
    assert est.parts == pytest.approx({"promoters": 0.5, "passives": 0.3, "detractors": 0.2})
    # Var = (pP + pD - (pP - pD)^2) / n = (0.5 + 0.2 - 0.09) / 10 = 0.061
    se = math.sqrt(0.061) * 100
    assert est.se == pytest.approx(se)  # 24.698
    assert est.ci_low == pytest.approx(30 - 1.959964 * se, abs=1e-4)  # -18.408
    assert est.ci_high == pytest.approx(30 + 1.959964 * se, abs=1e-4)  # 78.408
    assert (est.n, est.small_sample) == (10, True)


def test_nps_edges() -> None:
    assert nps([9, 10, 9]).value == 100 and nps([0, 6, 5]).value == -100
    assert nps([7, 8]).value == 0
    empty = nps([])
    assert (empty.value, empty.n, empty.ci_low) == (None, 0, None)
    big = nps([10] * 20 + [8] * 10 + [2] * 10, min_n=30)
    assert big.value == pytest.approx(25.0) and not big.small_sample
    assert nps([10] * 50 + [0]).ci_high == 100.0  # the interval is clipped to the scale
    assert nps([9, 10], confidence=0.9).confidence == 0.9
    with pytest.raises(ValueError, match="nps answers must be on 0-10"):
        nps([11])
    with pytest.raises(ValueError, match="0-10"):
        nps([float("nan")])


def test_wilson_by_hand() -> None:
    lo, hi = wilson(8, 10)
    assert (lo, hi) == pytest.approx((0.49016, 0.94332), abs=1e-5)
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson(3, 0)


def test_csat_top_two_box_and_mean() -> None:
    answers = [5, 4, 4, 5, 3, 2, 4, 5, 1, 4]  # seven of ten are 4 or 5
    est = csat(answers)
    assert est.value == pytest.approx(70.0)
    lo, hi = wilson(7, 10)
    assert (est.ci_low, est.ci_high) == pytest.approx((100 * lo, 100 * hi))
    mean = csat_mean(answers)
    assert mean.value == pytest.approx(3.7) and mean.measure == "csat_mean"
    with pytest.raises(ValueError, match="csat answers must be on 1-5"):
        csat([0])


def test_ces_mean_with_t_interval() -> None:
    est = ces([3, 4, 2, 3, 5, 3])
    # mean 20/6, sd = sqrt(5.3333/5) = 1.03280, se = 0.421637, t(0.975, 5) = 2.570582
    assert est.value == pytest.approx(20 / 6)
    assert est.se == pytest.approx(0.421637, abs=1e-6)
    assert (est.ci_low, est.ci_high) == pytest.approx((2.24948, 4.41719), abs=1e-5)
    one = ces([4])
    assert one.value == 4 and one.ci_low is None  # no interval from one answer
    with pytest.raises(ValueError, match="1-7"):
        ces([8])


def test_directions_are_explicit_and_ces_can_be_turned() -> None:
    assert {m.name: m.better for m in MEASURES.values()} == {
        "nps": "higher", "csat": "higher", "csat_mean": "higher", "ces": "higher"}
    assert MEASURES["ces"].goodness(7) == 1.0 and MEASURES["nps"].goodness(5) == 0.5
    effort = with_conventions({"ces": "lower"})
    assert effort["ces"].better == "lower" and effort["ces"].goodness(1) == 1.0
    assert effort["nps"] is MEASURES["nps"]
    with pytest.raises(ValueError, match="only the CES"):
        with_conventions({"nps": "lower"})


def test_summarise_overall_and_by_role() -> None:
    rows = [("u", "nps", 10), ("u", "nps", 9), ("u", "nps", 3), ("dm", "nps", 6), ("dm", "csat", 5),
            ("dm", "csat", 9), (None, "ces", 2)]  # csat 9 is off the scale: ignored
    answers = pd.DataFrame(rows, columns=["role", "measure", "score"])
    overall = summarise(answers, MEASURES, min_n=2)[0]
    assert overall["nps"]["value"] == pytest.approx(0.0) and overall["nps"]["n"] == 4
    assert overall["csat"]["n"] == 1 and overall["csat"]["ignored"] == 1
    assert overall["ces"]["value"] == 2.0
    by_role = {r["role"]: r for r in summarise(answers, MEASURES, by="role", min_n=2)}
    assert set(by_role) == {"u", "dm", "(unknown)"}
    assert by_role["u"]["nps"]["value"] == pytest.approx(100 / 3, abs=1e-3)
    assert by_role["dm"]["nps"]["small_sample"] is True
