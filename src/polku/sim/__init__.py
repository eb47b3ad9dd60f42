"""A seeded synthetic B2B world (accounts, buying groups, multi-channel journeys) with known truth.

``generate`` builds a world in memory; ``write_world`` stores it as files;
``stream_world`` writes a world of any size in bounded memory, and
``write_events_parquet`` streams just the events.
"""

from polku.sim.params import SimParams
from polku.sim.world import World, generate
from polku.sim.write import stream_world, write_events_parquet, write_world

__all__ = ["SimParams", "World", "generate", "stream_world", "write_events_parquet", "write_world"]
