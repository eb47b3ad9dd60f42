"""Small worlds with a known true effect of a nurture journey, for checking the lift report.

Each world is a set of contacts who all show the journey's trigger (a content download of
the world's topic). Which of them the journey treats is decided by the journey itself (its
holdout); given that, each contact reaches the goal (a quote request of the topic) with
probability ``base_rate`` if held out and ``base_rate + effect`` if treated. So the true
effect on the goal rate is exactly ``effect``, and a report's confidence interval should
contain it about as often as its confidence level says. Pure: arrays and rows in, rows out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from polku.sim.ids import block_rng


@dataclass(frozen=True)
class TreatmentWorld:
    """One world: its contacts, the topic that triggers and ends the journey, and the true effect."""

    index: int
    contacts: int
    base_rate: float
    effect: float
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject rates outside [0, 1]."""
        if self.contacts < 1:
            raise ValueError("a world needs at least one contact")
        for name, p in (("base_rate", self.base_rate), ("base_rate + effect", self.base_rate + self.effect)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {p}")

    @property
    def topic(self) -> str:
        """The world's topic: the journey's trigger and goal carry it."""
        return f"world-{self.index}"

    def emails(self) -> list[str]:
        """The contacts' e-mail addresses."""
        return [f"c{i}@w{self.index}.example" for i in range(self.contacts)]

    def identify_calls(self) -> list[dict[str, Any]]:
        """One identify call per contact (a name, so templates can greet them)."""
        return [{"email": e, "traits": {"name": f"Contact {i}"}} for i, e in enumerate(self.emails())]

    def trigger_events(self, at: datetime) -> list[dict[str, Any]]:
        """Each contact downloads the world's guide at ``at`` (plus up to an hour)."""
        rng = block_rng(self.seed, self.index, 1)
        offsets = rng.uniform(0, 3600, self.contacts)
        return [
            {"event_id": f"trigger-{self.index}-{i}", "ts": (at + timedelta(seconds=float(s))).isoformat(),
             "type": "content_download", "channel": "web", "email": e, "topic": self.topic}
            for i, (e, s) in enumerate(zip(self.emails(), offsets, strict=True))
        ]

    def goal_events(self, treated: dict[str, bool], at: datetime) -> list[dict[str, Any]]:
        """Quote requests drawn with the true rates, given who the journey treated (by e-mail); ``at`` plus up to a day."""
        rng = block_rng(self.seed, self.index, 2)
        emails = self.emails()
        is_treated = np.array([treated.get(e, False) for e in emails])
        p = self.base_rate + self.effect * is_treated
        hit = rng.random(len(emails)) < p
        offsets = rng.uniform(0, 86400, len(emails))
        return [
            {"event_id": f"goal-{self.index}-{i}", "ts": (at + timedelta(seconds=float(offsets[i]))).isoformat(),
             "type": "quote_requested", "channel": "web", "email": emails[i], "topic": self.topic}
            for i in np.flatnonzero(hit)
        ]
