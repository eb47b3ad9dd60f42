"""A seeded synthetic B2B world (accounts, buying groups, multi-channel journeys) with known truth.

``generate`` builds a world in memory; ``write_world`` stores it as files;
``write_events_parquet`` streams very large event logs to Parquet in bounded memory.
"""

from polku.sim.params import SimParams
from polku.sim.world import World, generate
from polku.sim.write import write_events_parquet, write_world

__all__ = ["SimParams", "World", "generate", "write_events_parquet", "write_world"]
