"""Attribution on simulated worlds, whose true channel effects are known.

How the simulator converts (polku.sim.funnel.decide): a prospect's nurture window ends
with the opportunity decision, P(opportunity) = sigmoid(a + sum_c beta_c * n_c), where
n_c counts the contact's touches in channel c inside the window, beta_c are the true
log-odds per touch (SimParams.channel_effects) and a the intercept; a converted contact
gets 'sales_accepted' (stage opportunity) at the window's end.

The truth we compare with: the expected number of the observed conversions caused by
each channel. For a converted contact with true probability p, the chance its
conversion was caused by its touches at all is (p - p0) / p, p0 = sigmoid(a); that
excess is shared among channels by the exact Shapley values phi_c of the game
v(S) = sigmoid(a + sum_{c in S} beta_c n_c) - p0 (an exact, order-free split of a
non-additive effect). Truth_c = sum over converted contacts of phi_c / p, normalised to
shares. (Its expectation equals the expected lift sum_i phi_ic over all decided
contacts.) For accounts, each converting account is credited through the contact whose
conversion made the account an opportunity (its first). Models are compared with the
truth by total-variation distance between share vectors, 1/2 * sum |share - truth|;
channels outside the true effects (portal, service, ...) have true share 0.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from polku import Workspace
from polku.analytics.attribution import AttributionQuery, AttributionResult
from polku.sim import World, generate, write_world

SEEDS = (1, 2, 3)
ACCOUNTS = 400
EVENTS_PER_ACCOUNT = 40
LOOKBACK_DAYS = 90  # the simulator's nurture windows last 30-90 days


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def caused(touches: dict[str, int], effects: dict[str, float], intercept: float) -> dict[str, float]:
    """Shares of one converted contact's conversion caused by each channel (Shapley of the true model)."""
    contribution = {c: effects[c] * touches.get(c, 0) for c in effects}
    p = _sigmoid(intercept + sum(contribution.values()))
    channels = sorted(effects)
    k = len(channels)
    out = {}
    for c in channels:
        others = [o for o in channels if o != c]
        phi = 0.0
        for size in range(k):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for coalition in itertools.combinations(others, size):
                base = intercept + sum(contribution[o] for o in coalition)
                phi += weight * (_sigmoid(base + contribution[c]) - _sigmoid(base))
        out[c] = phi / p
    return out


def truth_shares(world: World, level: str) -> pd.Series:
    """The true share of conversions caused by each channel, at contact or account level."""
    truth = world.truth
    converted = [c for c in truth["contacts"] if c["nurture"] and c["nurture"]["converted"]]
    if level == "account":
        first: dict[str, dict[str, Any]] = {}
        for c in sorted(converted, key=lambda c: c["nurture"]["end"]):
            first.setdefault(c["account_id"], c)
        converted = list(first.values())
    total = dict.fromkeys(truth["channel_effects"], 0.0)
    for c in converted:
        for channel, share in caused(c["nurture"]["touches"], truth["channel_effects"],
                                     truth["opportunity_intercept"]).items():
            total[channel] += share
    shares = pd.Series(total)
    return shares / shares.sum()


def distances(result: AttributionResult, truth: pd.Series) -> dict[str, float]:
    """Total-variation distance of each model's shares from the truth."""
    labels = sorted(set(result.shares.index) | set(truth.index))
    shares = result.shares.reindex(labels, fill_value=0.0)
    true = truth.reindex(labels, fill_value=0.0)
    return {m: round(0.5 * float((shares[m] - true).abs().sum()), 4) for m in shares.columns}


@pytest.mark.parametrize("seed", SEEDS)
def test_markov_and_shapley_are_closer_to_the_truth_than_last_touch(tmp_path: Path, seed: int) -> None:
    sim = generate(ACCOUNTS, seed=seed, events_per_account=EVENTS_PER_ACCOUNT)
    files = write_world(sim, tmp_path / "sim")
    n_true = sum(1 for c in sim.truth["contacts"] if c["nurture"] and c["nurture"]["converted"])
    with Workspace(tmp_path / "ws") as ws:  # default lifecycle rules: sales_accepted -> opportunity
        ws.import_accounts(files["accounts"])
        ws.import_contacts(files["contacts"])
        assert ws.import_events(files["events"]).rejected == 0
        tables = ws.tables()
        for level in ("contact", "account"):
            result = AttributionQuery(level=level, lookback_days=LOOKBACK_DAYS).run(tables)
            assert result.conversions > 80, level  # enough to tell the models apart
            assert result.attributed == result.conversions, level
            if level == "contact":  # a colleague signing in on a shared device may merge two people
                assert abs(result.conversions - n_true) <= 0.02 * n_true
            d = distances(result, truth_shares(sim, level))
            print(f"seed {seed} {level}: {result.conversions} conversions, distance from the truth {d}")
            assert d["markov"] < d["last_touch"], (level, d)
            assert d["shapley"] < d["last_touch"], (level, d)
            # the other rule-based models lean even more on frequent, weak channels (web, e-mail)
            others = min(d[m] for m in ("first_touch", "linear", "position_based", "time_decay"))
            assert max(d["markov"], d["shapley"]) < others, (level, d)
