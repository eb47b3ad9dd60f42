"""The knobs of the synthetic world, including the true effects the generator obeys."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from polku.model import CHANNELS

# Channels whose touches drive conversion to opportunity (the attribution ground truth).
TOUCH_CHANNELS: tuple[str, ...] = ("web", "email", "event", "meeting", "phone", "social")


def _channel_effects() -> dict[str, float]:
    """True log-odds added to P(opportunity) per touch in each channel."""
    return {
        "web": 0.03,
        "email": 0.08,
        "event": 0.55,
        "meeting": 0.90,
        "phone": 0.35,
        "social": 0.02,
    }


def _nurture_rates() -> dict[str, float]:
    """Nurture touches per 30 days of a prospect's window, at engagement 1."""
    return {
        "web": 3.0,
        "email": 3.0,
        "event": 0.5,
        "meeting": 0.3,
        "phone": 0.5,
        "social": 0.6,
    }


@dataclass(frozen=True)
class SimParams:
    """Rates and true effects of the world; the defaults give a plausible B2B funnel."""

    channel_effects: dict[str, float] = field(default_factory=_channel_effects)
    opportunity_intercept: float = -4.0
    nurture_rates: dict[str, float] = field(default_factory=_nurture_rates)
    p_identify: float = 0.70
    p_second_device: float = 0.15
    p_shared_device: float = 0.01  # a colleague later identifies on an identified contact's device
    p_freemail: float = 0.05
    p_crm_known: float = 0.60
    p_prospect: float = 0.60
    p_lead_without_opportunity: float = 0.35
    p_win: float = 0.45
    repeat_orders_per_year: float = 2.0
    p_renewal: float = 0.60
    p_onboard: float = 0.60
    clock_skew_fraction: float = 0.004  # e-mail opens logged before their send
    ticket_clock_skew_fraction: float = 0.03  # tickets closed "before" they were opened
    web_share: float = 0.20
    email_share: float = 0.08
    block_size: int = 500

    def __post_init__(self) -> None:
        """Reject parameters that would make the world meaningless."""
        for name in ("channel_effects", "nurture_rates"):
            unknown = set(getattr(self, name)) - set(TOUCH_CHANNELS)
            if unknown:
                raise ValueError(f"{name}: channels {sorted(unknown)} are not touch channels")
        if not set(self.channel_effects) <= CHANNELS:
            raise ValueError("channel_effects must name channels of polku.model.CHANNELS")
        if any(r < 0 for r in self.nurture_rates.values()):
            raise ValueError("nurture_rates must be non-negative")
        for name, value in asdict(self).items():
            if name.startswith("p_") or name.endswith("_fraction") or name.endswith("_share"):
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.web_share + self.email_share > 1.0:
            raise ValueError("web_share + email_share must not exceed 1")
        if self.repeat_orders_per_year < 0:
            raise ValueError("repeat_orders_per_year must be non-negative")
        if self.block_size < 1:
            raise ValueError("block_size must be at least 1")

    def effect_vector(self) -> tuple[tuple[str, ...], list[float]]:
        """The touch channels in a fixed order and their true effects (0 when unset)."""
        return TOUCH_CHANNELS, [float(self.channel_effects.get(c, 0.0)) for c in TOUCH_CHANNELS]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy, for the truth record."""
        return asdict(self)
