"""Write generated worlds to files: the only I/O of polku.sim."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from polku.sim.assemble import EVENT_SCHEMA
from polku.sim.params import SimParams
from polku.sim.truth import world_truth
from polku.sim.world import DEFAULT_START, World, iter_blocks

WORLD_FILES: dict[str, str] = {
    "events": "events.parquet",
    "accounts": "accounts.csv",
    "contacts": "contacts.csv",
    "truth": "truth.json",
}


def write_world(world: World, directory: str | Path) -> dict[str, Path]:
    """Write events.parquet, accounts.csv, contacts.csv and truth.json; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {key: directory / name for key, name in WORLD_FILES.items()}
    pq.write_table(world.events, paths["events"], compression="zstd")
    pcsv.write_csv(world.accounts, paths["accounts"])
    pcsv.write_csv(world.contacts, paths["contacts"])
    paths["truth"].write_text(json.dumps(world.truth, ensure_ascii=False), encoding="utf-8")
    return paths


def write_events_parquet(
    path: str | Path, n_accounts: int, seed: int = 0, *, events_per_account: int = 150,
    start: datetime = DEFAULT_START, days: int = 365, params: SimParams | None = None,
    compression: str = "zstd",
) -> int:
    """Stream a large world's events to one Parquet file, one block of accounts at a time.

    Memory stays bounded by one block (params.block_size accounts). The blocks are the
    same as generate()'s, so the file holds exactly the events of generate() with the
    same arguments, but it is sorted by ts only within each block (one or more row
    groups per block), not globally. Returns the number of events written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    with pq.ParquetWriter(path, EVENT_SCHEMA, compression=compression) as writer:
        for block in iter_blocks(
            n_accounts, seed, events_per_account=events_per_account, start=start, days=days,
            params=params, with_truth=False,
        ):
            writer.write_table(block.events, row_group_size=1 << 20)
            total += block.events.num_rows
    return total


def stream_world(
    directory: str | Path, n_accounts: int, seed: int = 0, *, events_per_account: int = 150,
    start: datetime = DEFAULT_START, days: int = 365, params: SimParams | None = None,
) -> tuple[dict[str, Path], int]:
    """Write a world of any size as write_world does, one block at a time; returns (paths, events).

    Memory stays bounded by one block; events are sorted by ts within each block only.
    """
    params = params or SimParams()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {key: directory / name for key, name in WORLD_FILES.items()}
    accounts, contacts, truths = [], [], []
    total = 0
    with pq.ParquetWriter(paths["events"], EVENT_SCHEMA, compression="zstd") as writer:
        for block in iter_blocks(
            n_accounts, seed, events_per_account=events_per_account, start=start, days=days, params=params
        ):
            writer.write_table(block.events, row_group_size=1 << 20)
            total += block.events.num_rows
            accounts.append(block.accounts)
            contacts.append(block.contacts)
            if block.truth is not None:
                truths.append(block.truth)
    pcsv.write_csv(pa.concat_tables(accounts), paths["accounts"])
    pcsv.write_csv(pa.concat_tables(contacts), paths["contacts"])
    truth = world_truth(
        truths, seed=seed, n_accounts=n_accounts, events_per_account=events_per_account,
        start=start if start.tzinfo else start.replace(tzinfo=UTC), days=days, params=params, n_events=total,
    )
    paths["truth"].write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
    return paths, total
