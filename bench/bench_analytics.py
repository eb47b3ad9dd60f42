"""Journey analytics benchmark: funnel, variants and transitions over a synthetic event log.

    python bench/bench_analytics.py            # 20,000,000 events, ~1M contacts
    python bench/bench_analytics.py --quick    # 1,000,000 events, checks the script

Touchpoints are generated with DuckDB SQL into a DuckDB file under bench/data/ (kept for
reuse; the folder is git-ignored) with a realistic skew: contact activity and the ~25 event
types follow power laws, each contact's events cluster after its own start day. The
analytics read it through Ibis exactly as they read a workspace.

1. A 5-step per-contact funnel with a 30-day window (``FunnelQuery``); reference: a
   hand-written DuckDB SQL query for the same funnel in the same run, which must give
   identical counts and times.
2. Top-20 journey variants (``VariantsQuery``) and next-step transitions
   (``transitions``) over the same events; references: the same computations written by
   hand in DuckDB SQL over the touchpoints (windows), which must give identical rows.
   The analytics read the journey summaries a workspace keeps at refresh time
   (``journey_heads``, ``journey_transitions``); the bench builds them into the data file
   with the store's own code (``polku.store.derive.build_journey_tables``) on every run
   and reports that time as its own row: it is paid once per refresh, not per request.

Each analytic and its reference run alternately (after one warm-up of each for the
funnel), so load from other processes on a shared machine falls on both alike; the
table gives median wall times and the ratio of medians, with the ratio of CPU times
(less sensitive to that load) beside it.

``run(quick)`` returns rows with benchmark/target/measured/reference (and more) for
bench/run.py; ``main()`` prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"

FULL_EVENTS: Final = 20_000_000
QUICK_EVENTS: Final = 1_000_000
CONTACTS_PER_EVENT: Final = 0.05  # ~1M contacts for 20M events
CONTACTS_PER_ACCOUNT: Final = 7
FUNNEL_TARGET_S: Final = 3.0
FUNNEL_RATIO_TARGET: Final = 1.5
PATHS_TARGET_S: Final = 5.0
RUNS: Final = 3
PATH_RUNS: Final = 2

# ~25 touchpoint types, most frequent first, with their usual channel.
TYPES: Final[tuple[tuple[str, str], ...]] = (
    ("page_view", "web"), ("email_sent", "email"), ("email_open", "email"),
    ("product_usage", "product"), ("email_click", "email"), ("sensor_reading", "product"),
    ("content_download", "web"), ("social_engagement", "social"), ("portal_login", "portal"),
    ("webinar_registered", "event"), ("form_submit", "web"), ("ticket_opened", "service"),
    ("ticket_closed", "service"), ("webinar_attended", "event"), ("meeting_held", "meeting"),
    ("call_held", "phone"), ("event_attended", "event"), ("demo_requested", "web"),
    ("lead_qualified", "crm"), ("quote_requested", "web"), ("sales_accepted", "crm"),
    ("order_placed", "crm"), ("contract_renewed", "crm"), ("unsubscribe", "email"),
    ("survey_answered", "email"),
)
FUNNEL_STEPS: Final = ("page_view", "content_download", "webinar_registered", "demo_requested", "quote_requested")
WINDOW_DAYS: Final = 30


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# data


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def make_data(n_events: int) -> Path:
    """The DuckDB file with touchpoints, stages, contacts and accounts (built once, reused)."""
    import duckdb

    path = DATA / f"analytics-e{n_events}.duckdb"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    n_contacts = max(1, int(n_events * CONTACTS_PER_EVENT))
    types = _sql_list(tuple(t for t, _ in TYPES))
    channels = _sql_list(tuple(c for _, c in TYPES))
    started = time.perf_counter()
    con = duckdb.connect(str(tmp))
    con.execute("SET TimeZone = 'UTC'")
    # u(i, k): a deterministic uniform in [0, 1) from the row number and a salt.
    con.execute(
        "CREATE MACRO u(i, k) AS (hash(i * 7919 + k) % 1000000007)::DOUBLE / 1000000007"
    )
    log(f"generating {n_events:,} events for ~{n_contacts:,} contacts into {path.name}")
    con.execute(
        f"""
        CREATE TEMP TABLE raw AS
        WITH base AS (
            SELECT i,
                   least({n_contacts - 1}, floor({n_contacts} * pow(u(i, 1), 1.6)))::BIGINT AS c,
                   least({len(TYPES) - 1}, floor({len(TYPES)} * pow(u(i, 2), 2.5)))::INTEGER AS k,
                   u(i, 3) AS r_ts, u(i, 4) AS r_topic, u(i, 5) AS r_path
            FROM range({n_events}) t(i)
        )
        SELECT i, c, k,
               TIMESTAMPTZ '2025-01-01 00:00:00+00'
                 + to_seconds((u(c, 6) * 300 * 86400)::BIGINT)
                 + to_seconds(least(-ln(1 - r_ts) * 20 * 86400, 200 * 86400)::BIGINT) AS ts,
               r_topic, r_path
        FROM base
        """
    )
    con.execute(
        f"""
        CREATE TABLE touchpoints AS
        SELECT 'e' || i AS event_id,
               row_number() OVER (ORDER BY ts, i) AS seq,
               ts,
               {types}[k + 1] AS type,
               {channels}[k + 1] AS channel,
               CASE WHEN r_topic < 0.6 THEN 'topic-' || floor(r_topic * 16)::INTEGER END AS topic,
               CASE WHEN k IN (21, 22) THEN round(r_path * 50000, 2) END AS value,
               CASE WHEN k = 0 THEN '{{"path": "' ||
                    ['/pricing', '/blog', '/products', '/careers', '/support'][floor(r_path * 5)::INTEGER + 1]
                    || '"}}' END AS properties,
               'c' || c AS contact_id,
               'a' || (c // {CONTACTS_PER_ACCOUNT}) AS account_id,
               ['decision_maker', 'influencer', 'user', 'purchaser', 'executive'][c % 5 + 1] AS role,
               ['executive', 'management', 'operational'][c % 3 + 1] AS org_level
        FROM raw ORDER BY seq
        """
    )
    con.execute(
        """
        CREATE TABLE stages AS
        WITH firsts AS (
            SELECT contact_id,
                   min(ts) AS first_ts,
                   min(ts) FILTER (WHERE type IN ('quote_requested', 'sales_accepted')) AS opp_ts,
                   min(ts) FILTER (WHERE type = 'order_placed') AS cust_ts
            FROM touchpoints GROUP BY contact_id
        )
        SELECT 'contact' AS subject, contact_id AS subject_id, 'visitor' AS stage,
               NULL::VARCHAR AS from_stage, first_ts AS ts, 'first seen' AS rule, '' AS reason
        FROM firsts
        UNION ALL
        SELECT 'contact', contact_id, 'opportunity', 'visitor', opp_ts, 'bench', '' FROM firsts
        WHERE opp_ts IS NOT NULL
        UNION ALL
        SELECT 'contact', contact_id, 'customer', 'opportunity', cust_ts, 'bench', '' FROM firsts
        WHERE cust_ts > opp_ts
        """
    )
    con.execute(
        f"""
        CREATE TABLE contacts AS
        SELECT 'c' || c AS contact_id, 'a' || (c // {CONTACTS_PER_ACCOUNT}) AS account_id,
               NULL::VARCHAR AS email, NULL::VARCHAR AS name,
               ['decision_maker', 'influencer', 'user', 'purchaser', 'executive'][c % 5 + 1] AS role,
               ['executive', 'management', 'operational'][c % 3 + 1] AS org_level,
               NULL::TIMESTAMPTZ AS first_seen, NULL::TIMESTAMPTZ AS last_seen,
               NULL::VARCHAR AS stage, NULL::TIMESTAMPTZ AS stage_since, NULL::VARCHAR AS journey_stage
        FROM range({n_contacts}) t(c)
        """
    )
    con.execute(
        f"""
        CREATE TABLE accounts AS
        SELECT 'a' || a AS account_id, 'Account ' || a AS name, NULL::VARCHAR AS domain,
               ['manufacturing', 'energy', 'logistics', 'retail'][a % 4 + 1] AS industry,
               (10 + a % 5000)::BIGINT AS employees, ['FI', 'SE', 'NO', 'DE'][a % 4 + 1] AS country,
               NULL::VARCHAR AS owner, NULL::VARCHAR AS stage, NULL::TIMESTAMPTZ AS stage_since,
               NULL::VARCHAR AS journey_stage
        FROM range({-(-n_contacts // CONTACTS_PER_ACCOUNT)}) t(a)
        """
    )
    con.execute("DROP TABLE raw")
    con.execute("CHECKPOINT")
    con.close()
    tmp.rename(path)
    log(f"generated in {time.perf_counter() - started:.1f} s")
    return path


def build_journeys(path: Path) -> dict[str, Any]:
    """(Re)build the journey summaries in the data file as a workspace refresh does; timed."""
    import duckdb

    from polku.store.derive import build_journey_tables

    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        n = con.execute("SELECT count(*), count(DISTINCT contact_id) FROM touchpoints").fetchone()
        wall, cpu = time.perf_counter(), time.process_time()
        for name, scratch in build_journey_tables(con, "touchpoints").items():
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {scratch}")
            con.execute(f"DROP TABLE {scratch}")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        con.execute("CHECKPOINT")
    finally:
        con.close()
    log(f"journey summaries built in {wall:.1f} s")
    return {
        "benchmark": "journey summaries at refresh (`build_journey_tables`: heads and transitions)",
        "target": "-",
        "measured": f"{wall:.2f} s (CPU {cpu:.1f} s)",
        "reference": "-",
        "pass": None,  # no target: reported so the cost moved to refresh stays visible
        "times": [wall],
        "events": n[0],
        "contacts": n[1],
    }


def open_tables(path: Path) -> tuple[Any, Any]:
    """An Ibis DuckDB connection to the file (read-only) and the analytics Tables on it."""
    import ibis

    from polku.analytics.tables import Tables

    con = ibis.duckdb.connect(str(path), read_only=True)
    con.raw_sql("SET TimeZone = 'UTC'")
    names = {r[0] for r in con.raw_sql("SELECT table_name FROM information_schema.tables").fetchall()}
    tables = Tables(
        touchpoints=con.table("touchpoints"),
        stages=con.table("stages"),
        contacts=con.table("contacts"),
        accounts=con.table("accounts"),
        journey_heads=con.table("journey_heads") if "journey_heads" in names else None,
        journey_transitions=con.table("journey_transitions") if "journey_transitions" in names else None,
    )
    return con, tables


# ---------------------------------------------------------------------------------------
# reference SQL


def reference_funnel_sql(steps: tuple[str, ...], window_days: int) -> str:
    """The funnel written by hand for DuckDB: struct (ts, seq) minima per step, one join each."""
    types = ", ".join(f"'{s}'" for s in dict.fromkeys(steps))
    ctes = [
        f"e AS (SELECT contact_id, ts, seq, type FROM touchpoints WHERE type IN ({types}))",
        f"s1 AS (SELECT contact_id, min({{'ts': ts, 'seq': seq}}) AS k FROM e "
        f"WHERE type = '{steps[0]}' GROUP BY contact_id)",
        "r1 AS (SELECT contact_id, k, k.ts AS t1, NULL::DOUBLE AS gap FROM s1)",
    ]
    for n, step in enumerate(steps[1:], start=2):
        ctes.append(
            f"r{n} AS (SELECT e.contact_id, min({{'ts': e.ts, 'seq': e.seq}}) AS k, min(p.t1) AS t1, "
            f"(epoch_ms(min(e.ts)) - epoch_ms(min(p.k.ts))) / 1000.0 AS gap "
            f"FROM e JOIN r{n - 1} p USING (contact_id) "
            f"WHERE e.type = '{step}' AND {{'ts': e.ts, 'seq': e.seq}} > p.k "
            f"AND e.ts <= p.t1 + INTERVAL {window_days} DAY GROUP BY e.contact_id)"
        )
    selects = [
        f"SELECT {n} AS step, count(*) AS converted, quantile_cont(gap, 0.5) AS median_seconds, "
        f"quantile_cont(gap, 0.9) AS p90_seconds FROM r{n}"
        for n in range(1, len(steps) + 1)
    ]
    return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL ".join(selects) + " ORDER BY step"


# ---------------------------------------------------------------------------------------
# timing


@dataclass
class Pair:
    """Interleaved timings of our analytic and its reference, and their last results."""

    ours: list[float] = field(default_factory=list)
    ref: list[float] = field(default_factory=list)
    ours_cpu: list[float] = field(default_factory=list)
    ref_cpu: list[float] = field(default_factory=list)
    ours_result: Any = None
    ref_result: Any = None

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.ref)

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.ours_cpu) / statistics.median(self.ref_cpu)


def timed_pair(ours: Callable[[], Any], ref: Callable[[], Any], runs: int, warmup: bool = True) -> Pair:
    """Run ours and the reference alternately (ABBA...), so load from other processes on a
    shared machine falls on both alike; wall and CPU time of each call."""
    pair = Pair()
    if warmup:
        ref()
        ours()
    for i in range(runs):
        order = [("ref", ref), ("ours", ours)] if i % 2 == 0 else [("ours", ours), ("ref", ref)]
        for name, fn in order:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            getattr(pair, name).append(wall)
            getattr(pair, f"{name}_cpu").append(cpu)
            setattr(pair, f"{name}_result", result)
    return pair


def bench_funnel(con: Any, tables: Any) -> dict[str, Any]:
    """The Ibis funnel against the hand-written SQL on the same connection."""
    from polku.analytics.funnel import FunnelQuery

    query = FunnelQuery.model_validate(
        {"steps": [{"event": s} for s in FUNNEL_STEPS], "window": f"{WINDOW_DAYS}d"}
    )
    sql = reference_funnel_sql(FUNNEL_STEPS, WINDOW_DAYS)
    pair = timed_pair(lambda: query.run(tables), lambda: con.raw_sql(sql).fetchall(), RUNS)
    ref, got = pair.ref_result, pair.ours_result.steps
    same = [int(r[1]) for r in ref] == got["converted"].tolist() and all(
        _close(r[2], m) and _close(r[3], p)
        for r, m, p in zip(ref, got["median_seconds"], got["p90_seconds"], strict=True)
    )
    ours_s = statistics.median(pair.ours)
    return {
        "benchmark": "5-step funnel per contact, 30-day window (FunnelQuery)",
        "target": f"< {FUNNEL_TARGET_S:.0f} s and ≤ {FUNNEL_RATIO_TARGET}× reference",
        "measured": f"{ours_s:.2f} s",
        "reference": f"hand-written DuckDB SQL: {statistics.median(pair.ref):.2f} s",
        "ratio": f"{pair.ratio:.2f}× (CPU {pair.cpu_ratio:.2f}×)",
        "pass": ours_s < FUNNEL_TARGET_S and pair.ratio <= FUNNEL_RATIO_TARGET and same,
        "identical": same,
        "times": pair.ours,
        "reference_times": pair.ref,
        "counts": got["converted"].tolist(),
    }


def _close(a: Any, b: Any) -> bool:
    if a is None:
        return b != b  # both missing: NaN on our side
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))


REFERENCE_TRANSITIONS_SQL: Final = """
SELECT source, target, count(*) AS n FROM (
    SELECT type AS source, lead(type) OVER (PARTITION BY contact_id ORDER BY ts, seq) AS target
    FROM touchpoints
) WHERE target IS NOT NULL GROUP BY ALL
"""


def reference_variants_sql(top: int, max_length: int) -> str:
    """Top variants written by hand for DuckDB: journeys until the first opportunity, repeats collapsed."""
    return f"""
    WITH goal AS (
        SELECT subject_id AS contact_id, min(ts) AS goal_ts FROM stages
        WHERE subject = 'contact' AND stage IN ('opportunity', 'customer') GROUP BY ALL
    ), e AS (
        SELECT t.contact_id, t.type, t.ts, t.seq, g.goal_ts,
               lag(t.type) OVER (PARTITION BY t.contact_id ORDER BY t.ts, t.seq) AS prev
        FROM touchpoints t LEFT JOIN goal g USING (contact_id)
        WHERE g.goal_ts IS NULL OR t.ts < g.goal_ts
    ), c AS (
        SELECT *, row_number() OVER (PARTITION BY contact_id ORDER BY ts, seq) - 1 AS pos
        FROM e WHERE prev IS NULL OR prev <> type
    ), j AS (
        SELECT contact_id, string_agg(type, ' > ' ORDER BY pos) FILTER (WHERE pos < {max_length}) AS v,
               count(*) > {max_length} AS cut, bool_or(goal_ts IS NOT NULL) AS converted
        FROM c WHERE pos <= {max_length} GROUP BY ALL
    )
    SELECT v || CASE WHEN cut THEN ' > …' ELSE '' END AS variant, count(*) AS n,
           count(*) FILTER (WHERE converted) AS conv
    FROM j GROUP BY ALL ORDER BY n DESC, variant LIMIT {top}
    """


def bench_paths(con: Any, tables: Any) -> list[dict[str, Any]]:
    """Top-20 variants and next-step transitions, each timed on its own against hand SQL."""
    from polku.analytics.paths import transitions
    from polku.analytics.variants import VariantsQuery

    query = VariantsQuery.model_validate({"top": 20})
    var_sql = reference_variants_sql(20, query.max_length)
    var = timed_pair(lambda: query.run(tables), lambda: con.raw_sql(var_sql).fetchall(), PATH_RUNS, warmup=False)
    result = var.ours_result
    got = sorted(zip(result.variants["variant"], result.variants["journeys"], result.variants["converted"], strict=True))
    var_same = got == sorted((v, int(n), int(c)) for v, n, c in var.ref_result)
    tr = timed_pair(
        lambda: transitions(tables), lambda: con.raw_sql(REFERENCE_TRANSITIONS_SQL).fetchall(), PATH_RUNS,
        warmup=False,
    )
    frame = tr.ours_result
    tr_same = sorted(zip(frame["source"], frame["target"], frame["count"], strict=True)) == sorted(
        (s, t, int(n)) for s, t, n in tr.ref_result
    )
    rows = []
    for name, pair, same, note in (
        ("top-20 journey variants per contact (VariantsQuery)", var, var_same, f"{result.journeys:,} journeys"),
        ("next-step transitions by type (transitions)", tr, tr_same, f"{len(frame)} distinct transitions"),
    ):
        ours_s = statistics.median(pair.ours)
        rows.append(
            {
                "benchmark": name,
                "target": f"< {PATHS_TARGET_S:.0f} s",
                "measured": f"{ours_s:.2f} s",
                "reference": f"hand-written DuckDB SQL: {statistics.median(pair.ref):.2f} s",
                "ratio": f"{pair.ratio:.2f}× (CPU {pair.cpu_ratio:.2f}×)",
                "pass": ours_s < PATHS_TARGET_S and same,
                "identical": same,
                "times": pair.ours,
                "reference_times": pair.ref,
                "note": note,
            }
        )
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    """Generate (or reuse) the data and run every analytics benchmark; one row each."""
    n_events = QUICK_EVENTS if quick else FULL_EVENTS
    path = make_data(n_events)
    build = build_journeys(path)
    con, tables = open_tables(path)
    try:
        n = con.raw_sql("SELECT count(*), count(DISTINCT contact_id) FROM touchpoints").fetchone()
        log(f"{n[0]:,} events, {n[1]:,} contacts")
        rows = [bench_funnel(con, tables), *bench_paths(con, tables)]
    finally:
        con.disconnect()
    for row in rows:
        row["events"] = n[0]
        row["contacts"] = n[1]
    return [*rows, build]


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| benchmark | target | measured | reference | ratio | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "-" if r["pass"] is None else "PASS" if r["pass"] else "**MISS**"
        lines.append(
            f"| {r['benchmark']} ({r['events']:,} events) | {r['target']} | {r['measured']} | "
            f"{r['reference']} | {r.get('ratio', '-')} | {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its Markdown table (and the per-run times)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M events instead of 20M")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    print(markdown(rows))
    print()
    for r in rows:
        extra = f"; reference runs {['%.2f' % t for t in r['reference_times']]}" if "reference_times" in r else ""
        same = f"; identical to reference: {r['identical']}" if "identical" in r else ""
        print(f"- {r['benchmark']}: runs {['%.2f' % t for t in r['times']]}{extra}{same}")
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
