"""The data-driven attribution models on hand-built paths, checked by hand and against
the ChannelAttribution package (a test-only oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from polku.analytics.attribution import PathSet, markov, shapley
from polku.analytics.attribution.shapley import MAX_LABELS, exposure_values
from polku.errors import InvalidInput


def paths(*rows: tuple[str, float, float]) -> pd.DataFrame:
    """A path frame from (path, conversions, nulls) rows."""
    return pd.DataFrame(rows, columns=["path", "conversions", "nulls"])


def credit(frame: pd.DataFrame) -> dict[str, float]:
    """The credit column as a plain dict."""
    return {str(k): float(v) for k, v in frame["credit"].items()}


# ---- path parsing -------------------------------------------------------------------


def test_pathset_encodes_paths_as_sorted_codes() -> None:
    ps = PathSet.from_frame(paths(("web > email", 1, 0), (" meeting ", 0, 2), ("", 3, 0), ("web", 0, 0)))
    assert ps.labels == ("email", "meeting", "web")
    assert ps.codes.tolist() == [2, 0, 1]
    assert ps.offsets.tolist() == [0, 2, 3]
    assert ps.conversions.tolist() == [1.0, 0.0] and ps.nulls.tolist() == [0.0, 2.0]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"path": ["a"], "conversions": [1]}), "no column 'nulls'"),
        (paths(("a", -1, 0)), "finite counts >= 0"),
        (paths(("a", float("nan"), 0)), "finite counts >= 0"),
        (paths(("a >  > b", 1, 0)), "empty step"),
    ],
)
def test_pathset_rejects_bad_frames(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PathSet.from_frame(frame)


# ---- Markov ---------------------------------------------------------------------------


def test_markov_two_channels_by_hand() -> None:
    # start -> a 2/3, b 1/3; a -> b 1/2, null 1/2; b -> conversion.
    # P(conv) = 2/3 * 1/2 + 1/3 = 2/3; without a: 1/3 (RE 1/2); without b: 0 (RE 1).
    result = markov(paths(("a > b", 1, 0), ("a", 0, 1), ("b", 1, 0)))
    assert result["removal_effect"].to_dict() == pytest.approx({"a": 0.5, "b": 1.0})
    assert credit(result) == pytest.approx({"a": 2 / 3, "b": 4 / 3})


def test_markov_three_channels_by_hand() -> None:
    # start -> email 1/3, web 2/3; web -> email, web, null 1/3 each; email -> meeting 1/2,
    # conversion 1/2; meeting -> conversion. P(conv from web) = 1/2, from start 2/3.
    # Without email: 0 (RE 1); without meeting: 1/3 (RE 1/2); without web: 1/3 (RE 1/2).
    result = markov(paths(("email", 1, 0), ("web > email > meeting", 1, 0), ("web > web", 0, 1)))
    assert result["removal_effect"].to_dict() == pytest.approx({"email": 1.0, "meeting": 0.5, "web": 0.5})
    assert credit(result) == pytest.approx({"email": 1.0, "meeting": 0.5, "web": 0.5})


def test_markov_second_order_sees_which_channel_came_before() -> None:
    data = paths(("a > b", 1, 0), ("c > b", 0, 1))
    # First order cannot tell a from c: b converts half the time whoever led to it.
    assert credit(markov(data, order=1)) == pytest.approx({"a": 0.25, "b": 0.5, "c": 0.25})
    # Second order knows b converts only after a: removing c changes nothing.
    second = markov(data, order=2)
    assert credit(second) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})
    assert second["removal_effect"].to_dict() == pytest.approx({"a": 1.0, "b": 1.0, "c": 0.0})


def test_markov_orders_agree_on_one_step_paths() -> None:
    data = paths(("a", 3, 1), ("b", 1, 3), ("c", 0, 4))
    assert credit(markov(data, order=3)) == pytest.approx(credit(markov(data, order=1)))


def test_markov_credits_add_up_to_conversions_and_self_loops_do_not_matter() -> None:
    data = paths(("a > a > b", 2, 1), ("b > c", 1, 3), ("c", 0, 2), ("a > c > c > c", 1, 1))
    once = paths(("a > b", 2, 1), ("b > c", 1, 3), ("c", 0, 2), ("a > c", 1, 1))
    result = markov(data)
    assert result["credit"].sum() == pytest.approx(4.0)
    assert credit(result) == pytest.approx(credit(markov(once)))


def test_markov_without_conversions_is_zero_not_nan() -> None:
    result = markov(paths(("a > b", 0, 3)))
    assert credit(result) == {"a": 0.0, "b": 0.0}


def test_markov_rejects_an_order_out_of_range() -> None:
    with pytest.raises(InvalidInput, match="markov_order"):
        markov(paths(("a", 1, 0)), order=5)


# ---- Shapley --------------------------------------------------------------------------


def test_shapley_two_channels_by_hand() -> None:
    # Journeys: a (1 of 4 convert), b (2 of 4), a+b (3 of 4); 6 of 12 overall.
    # v(S) = conversion rate of journeys touching at least S: v() = 1/2, v(a) = 4/8,
    # v(b) = 5/8, v(ab) = 3/4. Set {a}: phi_a = 0 -> the conversion goes to a alone.
    # Set {b}: phi_b = 1/8 -> b. Set {a, b}: phi_a = (0 + 1/8)/2 = 1/16,
    # phi_b = (1/8 + 1/4)/2 = 3/16 -> a 1/4, b 3/4 of its 3 conversions.
    result = shapley(paths(("a", 1, 3), ("b", 2, 2), ("a > b", 3, 1)))
    assert credit(result) == pytest.approx({"a": 1 + 0.75, "b": 2 + 2.25})


def test_shapley_gives_nothing_to_a_channel_every_journey_has() -> None:
    # Everyone sees the web site; only meetings make a difference.
    result = shapley(paths(("web", 1, 9), ("web > meeting", 5, 5), ("meeting > web > web", 5, 5)))
    assert credit(result) == pytest.approx({"meeting": 10.0, "web": 1.0})


def test_exposure_values_are_rates_over_supersets() -> None:
    masks = np.array([0b01, 0b10, 0b11])
    values = exposure_values(masks, np.array([1.0, 2.0, 3.0]), np.array([4.0, 4.0, 4.0]), 2)
    assert values.tolist() == pytest.approx([0.5, 0.5, 0.625, 0.75])


def test_shapley_with_many_channels_is_exact_and_adds_up() -> None:
    rng = np.random.default_rng(3)
    labels = [f"c{i:02d}" for i in range(12)]
    rows = []
    for _ in range(400):
        chosen = rng.choice(labels, size=rng.integers(1, 9), replace=True)
        conv = int(rng.integers(0, 3))
        rows.append((" > ".join(chosen), conv, int(rng.integers(0, 3)) + (conv == 0)))
    result = shapley(paths(*rows))
    assert result["credit"].sum() == pytest.approx(sum(r[1] for r in rows))
    assert (result["credit"] >= 0).all()


def test_shapley_refuses_more_channels_than_it_can_enumerate() -> None:
    many = " > ".join(f"t{i}" for i in range(MAX_LABELS + 1))
    with pytest.raises(InvalidInput, match="exact Shapley"):
        shapley(paths((many, 1, 0)))


# ---- the ChannelAttribution oracle -------------------------------------------------------


def synthetic_paths(seed: int, journeys: int) -> pd.DataFrame:
    """Journeys over six channels whose conversion depends on meetings and events."""
    rng = np.random.default_rng(seed)
    channels = np.array(["web", "email", "event", "meeting", "phone", "social"])
    rows = []
    for _ in range(journeys):
        path = rng.choice(channels, size=rng.integers(1, 8), p=[0.35, 0.3, 0.1, 0.05, 0.1, 0.1])
        score = -2.0 + 1.0 * (path == "meeting").sum() + 0.5 * (path == "event").sum()
        converted = rng.random() < 1 / (1 + np.exp(-score))
        rows.append((" > ".join(path), int(converted), int(not converted)))
    frame = paths(*rows)
    return frame.groupby("path", as_index=False)[["conversions", "nulls"]].sum()


def test_markov_agrees_with_channelattribution() -> None:
    ca = pytest.importorskip("ChannelAttribution")
    data = synthetic_paths(seed=0, journeys=3000)
    ours = markov(data)
    # ChannelAttribution estimates by simulation; max_step well above the longest path keeps
    # it from cutting simulated journeys short (its default, the longest observed path, does).
    theirs = ca.markov_model(
        data, "path", "conversions", var_null="nulls", order=1, out_more=True, max_step=200,
        nsim_start=1e6, conv_par=0.01, seed=1, verbose=False, flg_pro=False,
    )
    their_credit = theirs["result"].set_index("channel_name")["total_conversions"]
    their_effect = theirs["removal_effects"].set_index("channel_name")["removal_effect"]
    assert set(their_credit.index) == set(ours.index)
    total = float(data["conversions"].sum())
    for channel in ours.index:
        assert ours.at[channel, "credit"] == pytest.approx(their_credit[channel], abs=0.005 * total), channel
        assert ours.at[channel, "removal_effect"] == pytest.approx(their_effect[channel], abs=0.01), channel
