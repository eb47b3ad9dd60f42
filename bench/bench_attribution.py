"""Attribution benchmarks (issue 6): Markov over 1M journeys, and path extraction over 20M events.

    python bench/bench_attribution.py            # full sizes
    python bench/bench_attribution.py --quick    # small sizes, checks the script

1. Markov removal-effect attribution over 1,000,000 synthetic journeys (8 channels, 1-20
   touchpoints, about 13% converting), aggregated to distinct paths first; target < 20 s.
   Reference: ``ChannelAttribution.markov_model`` (order 1, its default simulation
   settings) on the same aggregated paths in the same run. Shapley on the same paths too.
2. Path extraction (journeys -> distinct paths with conversions and nulls) and the
   rule-based models, as Ibis on DuckDB, over a 20M-event touchpoints table (synthetic,
   made with DuckDB SQL and kept in bench/data/); reference: one hand-written DuckDB
   query with ``string_agg(... ORDER BY ts, seq)`` producing the same paths.

``run(quick)`` returns rows with keys benchmark, target, measured, reference, ratio and
verdict (for bench/run.py); ``main()`` prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
sys.path.insert(0, str(BENCH.parent / "src"))

from polku.analytics.attribution import AttributionQuery, PathSet, markov, shapley  # noqa: E402
from polku.analytics.attribution.extract import journey_touches, path_counts, rule_based_credit  # noqa: E402
from polku.analytics.tables import ACCOUNTS_SCHEMA, CONTACTS_SCHEMA, Tables  # noqa: E402

T = TypeVar("T")
CHANNELS = ("web", "email", "event", "meeting", "phone", "social", "portal", "service")
CHANNEL_P = (0.30, 0.28, 0.08, 0.05, 0.08, 0.10, 0.06, 0.05)
EFFECT = (-0.05, 0.05, 0.5, 0.9, 0.35, 0.0, 0.1, 0.1)  # log-odds per touch
MARKOV_TARGET_S = 20.0


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs."""

    journeys: int
    events: int
    contacts: int


FULL = Sizes(journeys=1_000_000, events=20_000_000, contacts=1_000_000)
QUICK = Sizes(journeys=50_000, events=1_000_000, contacts=50_000)


def log(msg: str) -> None:
    """Progress on stderr (stdout carries the results)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """fn's result and its wall time in seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow a library's prints (ChannelAttribution's banner and progress)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ---- 1. Markov over aggregated journeys ----------------------------------------------


def synthetic_journeys(n: int, seed: int = 7) -> pd.DataFrame:
    """n journeys over 8 channels, 1-20 touchpoints each, converting by a logistic model of touches."""
    rng = np.random.default_rng(seed)
    lengths = np.minimum(rng.geometric(0.15, n), 20)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    codes = rng.choice(len(CHANNELS), size=int(offsets[-1]), p=CHANNEL_P)
    score = -3.0 + np.add.reduceat(np.asarray(EFFECT)[codes], offsets[:-1])
    converted = rng.random(n) < 1.0 / (1.0 + np.exp(-score))
    names = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(CHANNELS)).cast(pa.string())
    paths = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), names), " > ")
    return pd.DataFrame(
        {"path": paths.to_pandas(), "conversions": converted.astype(np.int64), "nulls": (~converted).astype(np.int64)}
    )


def bench_markov(sizes: Sizes) -> list[dict[str, Any]]:
    """Markov (ours vs ChannelAttribution) and Shapley on the same aggregated paths."""
    journeys = synthetic_journeys(sizes.journeys)
    paths, agg_s = timed(
        lambda: journeys.groupby("path", as_index=False, sort=False)[["conversions", "nulls"]].sum()
    )
    n_conv = int(paths["conversions"].sum())
    log(f"{sizes.journeys:,} journeys -> {len(paths):,} distinct paths ({agg_s:.1f} s), {n_conv:,} conversions")
    ours, ours_s = timed(lambda: markov(PathSet.from_frame(paths)))
    log(f"markov: {ours_s:.2f} s")
    theirs_s, agreement = float("nan"), "-"
    try:
        with quiet():
            import ChannelAttribution as ca
        with quiet():
            theirs, theirs_s = timed(lambda: ca.markov_model(
                paths, "path", "conversions", var_null="nulls", order=1, verbose=False, flg_pro=False,
            ))
        diff = (ours["credit"] - theirs.set_index("channel_name")["total_conversions"]).abs().max()
        agreement = f"largest per-channel difference {diff / n_conv:.2%} of conversions"
        log(f"ChannelAttribution: {theirs_s:.2f} s ({agreement})")
    except ImportError:
        log("ChannelAttribution is not installed: no reference")
    sh, sh_s = timed(lambda: shapley(PathSet.from_frame(paths)))
    log(f"shapley: {sh_s:.2f} s")
    label = f"{sizes.journeys:,} journeys ({len(paths):,} distinct paths, 8 channels)"
    ratio = ours_s / theirs_s if np.isfinite(theirs_s) else None
    return [
        {
            "benchmark": f"Markov attribution (order 1), {label}",
            "target": f"< {MARKOV_TARGET_S:.0f} s",
            "measured": f"{ours_s:.2f} s (+ {agg_s:.1f} s to aggregate the journeys in pandas)",
            "reference": f"ChannelAttribution.markov_model: {theirs_s:.2f} s; {agreement}",
            "ratio": f"{ratio:.2f}× of ChannelAttribution" if ratio else "-",
            "verdict": "PASS" if ours_s < MARKOV_TARGET_S else "**MISS**",
        },
        {
            "benchmark": f"Shapley attribution (exact, exposure lift), {label}",
            "target": "-",
            "measured": f"{sh_s:.2f} s",
            "reference": "-",
            "ratio": "-",
            "verdict": "-",
        },
    ]


# ---- 2. Path extraction over a touchpoints table in DuckDB ----------------------------------

_TOUCHPOINTS_SQL = """
CREATE TABLE touchpoints AS
WITH base AS (
    SELECT i,
           hash(i, 'contact') % {contacts} AS c,
           (hash(i, 'channel') % 1000) / 1000.0 AS u,
           (hash(i, 'ts') % 31536000) AS secs
    FROM range({events}) t(i)
)
SELECT 'e' || i AS event_id,
       i AS seq,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds(secs) AS ts,
       CASE WHEN u < 0.30 THEN 'page_view' WHEN u < 0.52 THEN 'email_open' WHEN u < 0.58 THEN 'event_attended'
            WHEN u < 0.62 THEN 'meeting_held' WHEN u < 0.68 THEN 'call_held' WHEN u < 0.76 THEN 'social_engagement'
            WHEN u < 0.82 THEN 'portal_login' WHEN u < 0.86 THEN 'ticket_opened' WHEN u < 0.92 THEN 'product_usage'
            ELSE 'lead_qualified' END AS type,
       CASE WHEN u < 0.30 THEN 'web' WHEN u < 0.52 THEN 'email' WHEN u < 0.58 THEN 'event'
            WHEN u < 0.62 THEN 'meeting' WHEN u < 0.68 THEN 'phone' WHEN u < 0.76 THEN 'social'
            WHEN u < 0.82 THEN 'portal' WHEN u < 0.86 THEN 'service' WHEN u < 0.92 THEN 'product'
            ELSE 'crm' END AS channel,
       NULL::VARCHAR AS topic, NULL::DOUBLE AS value, NULL::VARCHAR AS properties,
       'C' || c AS contact_id, 'A' || (c // 5) AS account_id,
       NULL::VARCHAR AS role, NULL::VARCHAR AS org_level
    FROM base
"""

_STAGES_SQL = """
CREATE TABLE stages AS
SELECT 'contact' AS subject, 'C' || c AS subject_id, 'opportunity' AS stage, 'lead' AS from_stage,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds(hash(c, 'opp') % 31536000) AS ts,
       'bench' AS rule, 'bench' AS reason
FROM range({contacts}) t(c)
WHERE hash(c, 'converts') % 100 < 8
"""

# The reference: the same distinct paths with one ordered aggregate (DuckDB, Postgres, ...; not Spark).
_REFERENCE_SQL = """
WITH conv AS (
    SELECT subject_id AS subject, min(ts) AS conv_ts FROM stages
    WHERE subject = 'contact' AND stage = 'opportunity' GROUP BY 1
), j AS (
    SELECT t.contact_id AS subject, t.channel, t.ts, t.seq, conv.conv_ts IS NOT NULL AS converted
    FROM touchpoints t LEFT JOIN conv ON t.contact_id = conv.subject
    WHERE t.channel NOT IN ('crm', 'product') AND (conv.conv_ts IS NULL OR t.ts < conv.conv_ts)
), p AS (
    SELECT subject, converted, string_agg(channel, ' > ' ORDER BY ts, seq) AS path FROM j GROUP BY 1, 2
)
SELECT path, sum(converted::INT) AS conversions, sum(1 - converted::INT) AS nulls FROM p GROUP BY 1
"""


def touchpoints_db(sizes: Sizes) -> Path:
    """A DuckDB file with synthetic touchpoints and stages (made once, then reused)."""
    import duckdb

    path = DATA / f"attribution-tp-e{sizes.events}-c{sizes.contacts}.duckdb"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as con:
        _, secs = timed(lambda: con.execute(_TOUCHPOINTS_SQL.format(events=sizes.events, contacts=sizes.contacts)))
        con.execute(_STAGES_SQL.format(contacts=sizes.contacts))
    partial.rename(path)
    log(f"made {path.name} ({sizes.events:,} touchpoints) in {secs:.1f} s")
    return path


def bench_extraction(sizes: Sizes) -> list[dict[str, Any]]:
    """Ibis path extraction and rule-based credit on DuckDB vs one hand-written SQL query."""
    import ibis

    db = touchpoints_db(sizes)
    con = ibis.duckdb.connect(str(db), read_only=True)
    tables = Tables(
        touchpoints=con.table("touchpoints"),
        stages=con.table("stages"),
        contacts=ibis.memtable(pd.DataFrame(columns=CONTACTS_SCHEMA.names)).cast(CONTACTS_SCHEMA),
        accounts=ibis.memtable(pd.DataFrame(columns=ACCOUNTS_SCHEMA.names)).cast(ACCOUNTS_SCHEMA),
    )
    query = AttributionQuery()
    journeys = journey_touches(tables, query)
    paths, paths_s = timed(lambda: path_counts(journeys).execute())
    log(f"paths (Ibis): {paths_s:.2f} s, {len(paths):,} distinct paths")
    reference, ref_s = timed(lambda: con.con.sql(_REFERENCE_SQL).to_arrow_table().to_pandas())
    log(f"paths (hand-written SQL): {ref_s:.2f} s")
    same = _same_paths(paths, reference)
    rules = ["first_touch", "last_touch", "linear", "time_decay", "position_based"]
    _, rules_s = timed(lambda: rule_based_credit(journeys, query, rules).execute())
    log(f"rule-based credit: {rules_s:.2f} s")
    result, run_s = timed(lambda: query.run(tables))
    log(f"whole query (all seven models): {run_s:.2f} s, {result.conversions:,} conversions")
    con.disconnect()
    label = f"{sizes.events:,} touchpoints, {sizes.contacts:,} contacts"
    return [
        {
            "benchmark": f"Attribution path extraction (Ibis on DuckDB), {label}",
            "target": "-",
            "measured": f"{paths_s:.2f} s ({len(paths):,} distinct paths)",
            "reference": f"hand-written DuckDB SQL with string_agg(… ORDER BY): {ref_s:.2f} s"
            + ("" if same else " (DIFFERENT RESULT)"),
            "ratio": f"{paths_s / ref_s:.2f}× of SQL",
            "verdict": "-" if same else "**WRONG**",
        },
        {
            "benchmark": f"Rule-based credit, 5 models in one query, {label}",
            "target": "-",
            "measured": f"{rules_s:.2f} s",
            "reference": "-",
            "ratio": "-",
            "verdict": "-",
        },
        {
            "benchmark": f"`AttributionQuery().run` (7 models, contact level), {label}",
            "target": "-",
            "measured": f"{run_s:.2f} s ({result.conversions:,} conversions)",
            "reference": "-",
            "ratio": "-",
            "verdict": "-",
        },
    ]


def _same_paths(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two path frames hold the same (path, conversions, nulls) rows."""
    def norm(f: pd.DataFrame) -> pd.DataFrame:
        return f.astype({"conversions": "int64", "nulls": "int64"}).sort_values("path", ignore_index=True)

    return len(a) == len(b) and norm(a).equals(norm(b))


# ---- entry points ------------------------------------------------------------------------


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Every attribution benchmark at full (or quick) sizes, as result rows."""
    sizes = QUICK if quick else FULL
    return bench_markov(sizes) + bench_extraction(sizes)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    keys = ["benchmark", "target", "measured", "reference", "ratio", "verdict"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "-")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print their table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (checks the script)")
    args = ap.parse_args(argv)
    print(markdown(run(quick=args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
