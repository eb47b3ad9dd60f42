"""Polku performance benchmarks (``make bench``); writes bench/RESULTS.md.

    python bench/run.py            # full sizes (about 5-10 minutes on 2 cores)
    python bench/run.py --quick    # small sizes, checks the script in under a minute

Four benchmarks, each with an absolute figure and a reference measured in the same run:

1. HTTP ingestion through a real ``polku serve`` subprocess on 127.0.0.1 (batches of 500);
   reference: the in-process ``Workspace.ingest`` rate on the same batches.
2. Bulk import of a 10M-event Parquet file with ``Workspace.import_events`` in a child
   process (rate and peak RSS); reference: DuckDB's own scan and CREATE TABLE AS on the file.
3. ``Workspace.refresh(force=True)`` over ~1M events, and the identity part alone;
   reference: a plain DuckDB count(DISTINCT ...) over the identity columns.
4. p95 latency of ``Workspace.account(key)`` (and GET /v1/accounts/{key} in-process) for an
   account with 100k events in a ~1M-event workspace; reference: a plain DuckDB count.

Then the later areas, each a script of its own run in a child process (``run(quick)``
returns its rows): bench/bench_analytics.py (funnels, variants, paths over 20M events),
bench/bench_attribution.py (Markov over 1M paths against ``channelattribution``) and
bench/bench_scoring.py (rescoring, incremental scoring, training), bench/bench_nurture.py
(a tick over 100k enrolments, SMTP delivery) and bench/bench_dashboard.py (page times).

Input data come from ``polku.sim`` (falling back to DuckDB SQL if it cannot be imported) and
are kept in bench/data/ for reuse; workspaces are deleted after each benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
RESULTS = BENCH / "RESULTS.md"
HOST = "127.0.0.1"  # the load generator talks to loopback only
GIB = 1024**3
MIB = 1024**2


# ---------------------------------------------------------------------------------------
# sizes


@dataclass(frozen=True)
class Sizes:
    name: str
    bulk_events: int  # bulk import file
    http_max_events: int
    http_seconds: float
    http_batch: int
    http_threads: int
    ingest_ref_batches: int  # in-process reference batches
    world_accounts: int  # sim accounts of the identity / 360 workspace
    world_epa: int  # sim events_per_account of that workspace
    big_events: int  # events of the one big account
    big_extra_contacts: int  # synthetic extra members of the big account
    view_calls: int
    refresh_runs: int


FULL = Sizes(
    name="full",
    bulk_events=10_000_000,
    http_max_events=1_200_000,
    http_seconds=60.0,
    http_batch=500,
    http_threads=4,
    ingest_ref_batches=200,
    world_accounts=9_950,
    world_epa=60,
    big_events=100_000,
    big_extra_contacts=40,
    view_calls=200,
    refresh_runs=3,
)
QUICK = Sizes(
    name="quick",
    bulk_events=300_000,
    http_max_events=40_000,
    http_seconds=8.0,
    http_batch=500,
    http_threads=4,
    ingest_ref_batches=20,
    world_accounts=500,
    world_epa=60,
    big_events=10_000,
    big_extra_contacts=10,
    view_calls=40,
    refresh_runs=1,
)

TARGETS = {
    "http_eps": 20_000,
    "import_eps": 1_000_000,
    "import_rss": 2 * GIB,
    "refresh_s": 10.0,
    "account_p95_ms": 50.0,
}


# ---------------------------------------------------------------------------------------
# helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fmt_int(n: float) -> str:
    return f"{n:,.0f}"


def fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on sorted values."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def machine() -> dict[str, Any]:
    import duckdb

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    try:
        import polku

        polku_version = polku.__version__
    except Exception:  # noqa: BLE001
        polku_version = "?"
    commit = "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip() or "?"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True,
            timeout=10,
        ).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "nproc": nproc,
        "memory": mem,
        "cpu": cpu,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polku": polku_version,
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit,
    }


def fresh_dir(name: str) -> Path:
    path = DATA / f"{name}-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def run_child(args: list[str], timeout: float = 1800) -> tuple[dict[str, Any], int]:
    """Run this script in a child mode; returns its JSON answer and the RSS peak polled by psutil."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )
    peak = 0
    try:
        ps = psutil.Process(proc.pid)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.Error:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"child {args[0]} ran over {timeout:.0f} s")
            time.sleep(0.02)
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed ({proc.returncode}):\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1]), peak


def self_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# ---------------------------------------------------------------------------------------
# data


def sim_available() -> bool:
    try:
        from polku.sim import write_events_parquet  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return True


def sql_events_parquet(path: Path, n_events: int, n_contacts: int, seed: int) -> int:
    """Fallback generator: realistic-ish events in plain DuckDB SQL (only if polku.sim is missing).

    Contacts have one or two cookies and an e-mail at their company's domain (about 4 contacts
    per company); 70% of them identify once (anonymous_id + email), the rest stay anonymous.
    """
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    tmp = path.with_suffix(".tmp.parquet")
    con.execute(
        f"""
        CREATE TEMP TABLE c AS
        SELECT i AS c, 'A' || lpad((i // 4)::VARCHAR, 6, '0') AS account_id,
               md5('anon' || {seed} || i) AS anon,
               'p' || i || '@company-' || (i // 4) || '.example' AS email,
               CASE WHEN hash(i, {seed}, 'crm') % 10 < 4 THEN 'C' || lpad(i::VARCHAR, 7, '0') END AS crm_id,
               hash(i, {seed}, 'id') % 10 < 7 AS identified
        FROM range({n_contacts}) t(i)"""
    )
    con.execute(
        f"""
        COPY (
          WITH e AS (
            SELECT i, (hash(i, {seed}, 'who') % {n_contacts})::BIGINT AS c,
                   hash(i, {seed}, 'kind') % 100 AS k,
                   TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_microseconds((hash(i, {seed}, 'ts') % 31536000000000)::BIGINT) AS ts
            FROM range({n_events}) t(i))
          SELECT md5('ev' || {seed} || e.i) AS event_id, e.ts,
                 CASE WHEN e.k < 3 THEN 'identify' WHEN e.k < 55 THEN 'page_view' WHEN e.k < 70 THEN 'email_open'
                      WHEN e.k < 80 THEN 'email_click' WHEN e.k < 88 THEN 'content_download'
                      WHEN e.k < 94 THEN 'portal_login' WHEN e.k < 97 THEN 'meeting_held' ELSE 'form_submit' END AS type,
                 CASE WHEN e.k < 55 THEN 'web' WHEN e.k < 80 THEN 'email' WHEN e.k < 88 THEN 'web'
                      WHEN e.k < 94 THEN 'portal' WHEN e.k < 97 THEN 'meeting' ELSE 'web' END AS channel,
                 CASE WHEN e.k < 3 OR e.k BETWEEN 3 AND 54 OR e.k >= 97 THEN c.anon END AS anonymous_id,
                 CASE WHEN (e.k < 3 AND c.identified) OR e.k BETWEEN 55 AND 79 OR e.k >= 94
                           OR (e.k < 3 AND NOT c.identified) THEN c.email END AS email,
                 CASE WHEN e.k BETWEEN 88 AND 96 THEN c.crm_id END AS crm_id,
                 CASE WHEN e.k BETWEEN 88 AND 96 THEN c.account_id END AS account_id,
                 NULL::VARCHAR AS topic, NULL::DOUBLE AS value,
                 '{{"path": "/p/' || (e.i % 50) || '"}}' AS properties
          FROM e JOIN c USING (c)
        ) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    # events need an identity: fill the e-mail where the kind left none
    con.execute(
        f"""COPY (SELECT * REPLACE (CASE WHEN anonymous_id IS NULL AND crm_id IS NULL THEN coalesce(email, 'x@company.example')
                                     ELSE email END AS email)
                 FROM read_parquet('{tmp}') ORDER BY ts) TO '{path}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    tmp.unlink()
    return int(con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0])


def events_file(name: str, n_accounts: int, epa: int, seed: int) -> tuple[Path, int, str]:
    """A sim event file in bench/data, generated once and reused."""
    import pyarrow.parquet as pq

    path = DATA / f"{name}-a{n_accounts}-e{epa}-s{seed}.parquet"
    info = path.with_name(path.name + ".json")
    if path.exists():
        how = json.loads(info.read_text())["generator"] if info.exists() else "an earlier run"
        return path, pq.ParquetFile(path).metadata.num_rows, f"{how}, reused from an earlier run"
    DATA.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = path.with_name(path.name + ".part")
    if sim_available():
        from polku.sim import write_events_parquet

        n = write_events_parquet(tmp, n_accounts, seed, events_per_account=epa)
        how = "polku.sim.write_events_parquet"
    else:
        n = sql_events_parquet(tmp, n_accounts * epa, n_accounts * 4, seed)
        how = "DuckDB SQL fallback"
    tmp.rename(path)
    info.write_text(json.dumps({"generator": how, "events": n}))
    log(f"  generated {path.name}: {n:,} events in {time.perf_counter() - started:.1f} s ({how})")
    return path, n, how


def big_account_file(world: Path, n_events: int, extra_contacts: int) -> tuple[Path, str, int]:
    """100k extra events for the contacts of one account of the world (plus a few new members).

    Picks the account with the most known contacts, copies the shape (type, channel, topic,
    value, properties, ts, which identity columns are set) of a sample of the world's
    identified events, and gives them to that account's members.
    """
    import duckdb

    path = world.with_name(world.stem + f"-big{n_events}-x{extra_contacts}.parquet")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE VIEW w AS SELECT * FROM read_parquet('{world}')")
    account_id = con.execute(
        """SELECT account_id FROM w WHERE account_id IS NOT NULL AND email IS NOT NULL
           GROUP BY account_id ORDER BY count(DISTINCT email) DESC, count(*) DESC, account_id LIMIT 1"""
    ).fetchone()[0]
    if path.exists():
        return path, account_id, int(con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0])
    con.execute(
        f"""CREATE TEMP TABLE members0 AS
            SELECT email, max(crm_id) AS crm_id,
                   min(anonymous_id) FILTER (WHERE type = 'identify') AS anonymous_id
            FROM w WHERE email IN (SELECT email FROM w WHERE account_id = '{account_id}' AND email IS NOT NULL)
            GROUP BY email"""
    )
    domain = con.execute(
        "SELECT split_part(email, '@', 2) FROM members0 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]
    con.execute(
        f"""CREATE TEMP TABLE members AS
            SELECT row_number() OVER (ORDER BY email) - 1 AS m, * FROM (
              SELECT email, crm_id, anonymous_id FROM members0
              UNION ALL
              SELECT 'bench.user' || i || '@{domain}', NULL, 'bench-anon-' || md5('big' || i)
              FROM range({extra_contacts}) t(i))"""
    )
    n_members = con.execute("SELECT count(*) FROM members").fetchone()[0]
    con.execute(
        f"""COPY (
          WITH pool AS (   -- identified, non-identify events of the world, numbered
            SELECT row_number() OVER (ORDER BY event_id) - 1 AS p, *
            FROM w WHERE email IS NOT NULL AND type <> 'identify'
          ),
          pick AS (SELECT i, (hash(i, 'src') % (SELECT count(*) FROM pool))::BIGINT AS p FROM range({n_events}) t(i)),
          src AS (SELECT pick.i, pool.* EXCLUDE (p) FROM pick JOIN pool USING (p)),
          ev AS (
            SELECT src.*, m.email AS m_email, m.crm_id AS m_crm, m.anonymous_id AS m_anon
            FROM src JOIN members m ON m.m = (hash(src.i, 'member') % {n_members})::BIGINT
          ),
          ident AS (   -- new members link their cookie to their e-mail once
            SELECT 'bench-identify-' || m AS event_id, TIMESTAMPTZ '2025-01-02 09:00:00+00' + to_minutes(m::BIGINT) AS ts,
                   'identify' AS type, 'web' AS channel, anonymous_id, email, crm_id, '{account_id}' AS account_id,
                   NULL::VARCHAR AS topic, NULL::DOUBLE AS value,
                   '{{"name": "Bench User ' || m || '", "org_level": "operational", "role": "user"}}' AS properties
            FROM members WHERE email LIKE 'bench.user%'
          )
          SELECT 'bench-big-' || lpad(i::VARCHAR, 7, '0') AS event_id, ts, type, channel,
                 CASE WHEN anonymous_id IS NOT NULL THEN m_anon END AS anonymous_id,
                 CASE WHEN email IS NOT NULL OR m_anon IS NULL OR anonymous_id IS NULL THEN m_email END AS email,
                 CASE WHEN crm_id IS NOT NULL THEN m_crm END AS crm_id,
                 CASE WHEN account_id IS NOT NULL THEN '{account_id}' END AS account_id,
                 topic, value, properties
          FROM ev
          UNION ALL SELECT * FROM ident
          ORDER BY ts
        ) TO '{path}.part' (FORMAT parquet, COMPRESSION zstd)"""
    )
    Path(f"{path}.part").rename(path)
    n = int(con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0])
    log(f"  generated {path.name}: {n:,} events for account {account_id} ({n_members} members)")
    return path, account_id, n


# ---------------------------------------------------------------------------------------
# child modes (run in their own process so their memory is measured alone)


def child_import(home: str, parquet: str) -> None:
    from polku.workspace import Workspace

    t0 = time.perf_counter()
    with Workspace(home) as ws:
        t1 = time.perf_counter()
        res = ws.import_events(parquet)
        t2 = time.perf_counter()
    print(json.dumps({
        "rows": res.rows, "inserted": res.inserted, "duplicates": res.duplicates, "rejected": res.rejected,
        "import_s": t2 - t1, "open_s": t1 - t0, "result_s": res.seconds, "maxrss": self_maxrss(),
    }))


def child_ctas(db: str, parquet: str) -> None:
    import duckdb

    con = duckdb.connect(db)
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{parquet}')")
    t1 = time.perf_counter()
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    print(json.dumps({"rows": n, "ctas_s": t1 - t0, "maxrss": self_maxrss()}))


# ---------------------------------------------------------------------------------------
# 2. bulk import


def bench_import(sz: Sizes) -> dict[str, Any]:
    import duckdb

    n_accounts = -(-sz.bulk_events // 150)
    path, n, how = events_file("bulk", n_accounts, 150, 11)
    log(f"bulk import: {n:,} events from {path.name} ({path.stat().st_size / MIB:.0f} MiB)")

    con = duckdb.connect()
    scans = []
    for _ in range(3):
        t = time.perf_counter()
        con.execute(f"SELECT count(*), sum(length(event_id)) FROM read_parquet('{path}')").fetchall()
        scans.append(time.perf_counter() - t)
    con.close()
    scan_s = min(scans)

    ctas_runs = []
    for _ in range(2):  # best of two: the reference should not be the noisy one
        ctas_dir = fresh_dir("ctas")
        c, c_poll = run_child(["_ctas", str(ctas_dir / "ref.duckdb"), str(path)])
        ctas_db_size = (ctas_dir / "ref.duckdb").stat().st_size
        shutil.rmtree(ctas_dir, ignore_errors=True)
        ctas_runs.append((c["ctas_s"], c, c_poll))
    _, ctas, ctas_poll = min(ctas_runs, key=lambda x: x[0])
    log(f"  DuckDB CTAS: {ctas['ctas_s']:.2f} s, peak RSS {fmt_bytes(ctas['maxrss'])}")

    home = fresh_dir("import-ws")
    t = time.perf_counter()
    res, poll_peak = run_child(["_import", str(home), str(path)])
    child_wall = time.perf_counter() - t
    db_size = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
    shutil.rmtree(home, ignore_errors=True)
    rate = res["inserted"] / res["import_s"]
    log(f"  polku import: {res['inserted']:,} in {res['import_s']:.2f} s = {rate:,.0f} ev/s, "
        f"peak RSS {fmt_bytes(res['maxrss'])}")
    return {
        "file": path.name, "file_mib": path.stat().st_size / MIB, "generator": how, "events": n,
        "import": res, "rate": rate, "child_wall_s": child_wall, "poll_peak": poll_peak, "db_bytes": db_size,
        "scan_s": scan_s, "scan_rate": n / scan_s, "ctas": ctas, "ctas_rate": n / ctas["ctas_s"],
        "ctas_poll": ctas_poll, "ctas_db_bytes": ctas_db_size,
    }


# ---------------------------------------------------------------------------------------
# 1. HTTP ingestion


def build_bodies(path: Path, n_events: int, batch: int) -> list[bytes]:
    """JSON request bodies {"events": [...]} of `batch` events each, from the first rows of a file."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""SELECT json_object('event_id', event_id, 'ts', strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ'),
                   'type', type, 'channel', channel, 'anonymous_id', anonymous_id, 'email', email,
                   'crm_id', crm_id, 'account_id', account_id, 'topic', topic, 'value', value,
                   'properties', coalesce(json(properties), json_object()))::VARCHAR
            FROM read_parquet('{path}') LIMIT {n_events}"""
    ).fetchall()
    con.close()
    bodies = []
    for i in range(0, len(rows) - batch + 1, batch):
        bodies.append(('{"events":[' + ",".join(r[0] for r in rows[i : i + batch]) + "]}").encode())
    return bodies


@dataclass
class LoadStats:
    requests: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    done_at: list[tuple[float, int]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)


def load(base: str, token: str | None, bodies: list[bytes], threads: int, seconds: float,
         path: str = "/v1/events") -> tuple[LoadStats, float, float]:
    """POST bodies (or GET path when bodies is empty) from `threads` keep-alive clients until done or time is up."""
    import httpx
    import orjson

    assert base.startswith(f"http://{HOST}:")
    stats = LoadStats()
    lock = threading.Lock()
    next_index = [0]
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    deadline = started + seconds

    def worker() -> None:
        with httpx.Client(base_url=base, trust_env=False, timeout=120.0, headers=headers) as client:
            while time.perf_counter() < deadline:
                with lock:
                    i = next_index[0]
                    next_index[0] += 1
                if bodies and i >= len(bodies):
                    return
                t = time.perf_counter()
                try:
                    r = client.post(path, content=bodies[i]) if bodies else client.get(path)
                    ok = r.status_code == 200
                    data = orjson.loads(r.content) if ok and bodies else {}
                except httpx.HTTPError as exc:
                    ok, data, r = False, {}, None
                    err = repr(exc)
                else:
                    err = f"HTTP {r.status_code}: {r.text[:300]}"
                end = time.perf_counter()
                with lock:
                    stats.requests += 1
                    stats.latencies.append(end - t)
                    if not ok:
                        stats.errors += 1
                        if len(stats.error_samples) < 3:
                            stats.error_samples.append(err)
                        continue
                    stats.accepted += int(data.get("accepted", 0))
                    stats.duplicates += int(data.get("duplicates", 0))
                    stats.rejected += int(data.get("rejected", 0))
                    stats.done_at.append((end, int(data.get("accepted", 0))))

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return stats, started, time.perf_counter()


WRK_SCRIPT = """
local made = 0
function setup(thread)
  made = made + 1
  thread:set("tid", made)
end
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
function request()
  n = n + 1
  local parts = {}
  for i = 1, %(batch)d do
    parts[i] = string.format(
      '{"event_id":"wrk%(run)s-%%d-%%d-%%d","type":"page_view","channel":"web","anonymous_id":"d%%d",'
      .. '"ts":"2025-06-01T10:00:00Z","properties":{"path":"/pricing"}}', tid, n, i, (n * 7 + i) %% 5000)
  end
  return wrk.format(nil, "/v1/events", nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
"""


def load_wrk(base: str, token: str, batch: int, seconds: float) -> dict[str, Any] | None:
    """The same POSTs from wrk (a C load generator, far lighter than Python clients), if installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = DATA / f"wrk-{os.getpid()}.lua"
    script.write_text(WRK_SCRIPT % {"token": token, "batch": batch, "run": os.getpid()})
    try:
        out = subprocess.run(
            [wrk, "-t2", "-c4", f"-d{int(seconds)}s", "--latency", "-s", str(script), base],
            capture_output=True, text=True, timeout=seconds + 60,
        ).stdout
    finally:
        script.unlink(missing_ok=True)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)s", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if not (rps and total):
        return {"error": out[-500:]}
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rate": float(rps.group(1)) * batch,
        "requests": int(total.group(1)),
        "seconds": float(total.group(2)),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "p99_ms": float(p99.group(1)) * unit[p99.group(2)] if p99 else float("nan"),
    }


def bench_http(sz: Sizes, source: Path) -> dict[str, Any]:
    import httpx
    import orjson
    import psutil

    from polku.workspace import Workspace

    log(f"HTTP ingestion: building {sz.http_max_events:,} events as JSON bodies of {sz.http_batch}")
    t = time.perf_counter()
    bodies = build_bodies(source, sz.http_max_events, sz.http_batch)
    body_mib = sum(len(b) for b in bodies) / MIB
    log(f"  {len(bodies):,} bodies, {body_mib:.0f} MiB, built in {time.perf_counter() - t:.1f} s")

    # Reference: the same batches through Workspace.ingest in this process (no HTTP, no JSON parsing).
    ref_home = fresh_dir("ingest-ref-ws")
    ref_items = [orjson.loads(b)["events"] for b in bodies[: sz.ingest_ref_batches]]
    with Workspace(ref_home) as ws:
        ws.ingest(ref_items[0], "api")  # warm-up (first append, imports)
        t = time.perf_counter()
        ref_n = 0
        for items in ref_items[1:]:
            ref_n += len(ws.ingest(items, "api").accepted)
        ref_s = time.perf_counter() - t
    shutil.rmtree(ref_home, ignore_errors=True)
    ref_rate = ref_n / ref_s
    del ref_items
    log(f"  reference in-process ws.ingest: {ref_n:,} events in {ref_s:.2f} s = {ref_rate:,.0f} ev/s")

    home = fresh_dir("http-ws")
    with Workspace(home) as ws:
        token = ws.create_key("write", "bench")
    port = free_port()
    polku_bin = Path(sys.executable).with_name("polku")
    server_log = (DATA / f"serve-{os.getpid()}.log").open("w")
    proc = subprocess.Popen(
        [str(polku_bin), "--home", str(home), "serve", "--host", HOST, "--port", str(port)],
        stdout=server_log, stderr=subprocess.STDOUT, cwd=ROOT,
    )
    base = f"http://{HOST}:{port}"
    result: dict[str, Any] = {"port": port, "bodies": len(bodies), "body_mib": body_mib,
                              "ref_rate": ref_rate, "ref_events": ref_n}
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=5.0) as c:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"polku serve exited with {proc.returncode}; see {server_log.name}")
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("polku serve did not answer /health within 60 s")
                time.sleep(0.2)
        sp = psutil.Process(proc.pid)

        # Secondary reference: the request rate of the same client loop on GET /health.
        h, h0, h1 = load(base, None, [], sz.http_threads, 3.0, path="/health")
        result["health_rps"] = h.requests / (h1 - h0)
        result["health_p50_ms"] = statistics.median(h.latencies) * 1000
        log(f"  GET /health: {result['health_rps']:,.0f} req/s with the same client loop")

        # Warm-up: two batches, not counted.
        w, _, _ = load(base, token, bodies[:2], 1, 30.0)
        if w.errors:
            raise RuntimeError(f"warm-up failed: {w.error_samples}")

        # Sample the server's RSS and CPU during the run.
        samples: list[tuple[float, int, float]] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.is_set():
                try:
                    samples.append((time.perf_counter(), sp.memory_info().rss, sum(sp.cpu_times()[:2])))
                except psutil.Error:
                    return
                stop.wait(0.5)

        smp = threading.Thread(target=sampler, daemon=True)
        smp.start()
        me = psutil.Process()
        cpu0 = sum(me.cpu_times()[:2])
        log(f"  load: {sz.http_threads} client threads, batches of {sz.http_batch}, "
            f"up to {sz.http_seconds:.0f} s or {len(bodies) - 2:,} batches")
        st, t0, t1 = load(base, token, bodies[2:], sz.http_threads, sz.http_seconds)
        client_cpu = sum(me.cpu_times()[:2]) - cpu0
        stop.set()
        smp.join()
        elapsed = t1 - t0
        rate = st.accepted / elapsed
        # per-second throughput (full seconds only)
        buckets: dict[int, int] = {}
        for end, n in st.done_at:
            buckets[int(end - t0)] = buckets.get(int(end - t0), 0) + n
        full_secs = [buckets.get(s, 0) for s in range(int(elapsed))]
        server_cpu = (samples[-1][2] - samples[0][2]) if len(samples) > 1 else float("nan")
        result.update({
            "requests": st.requests, "accepted": st.accepted, "duplicates": st.duplicates, "rejected": st.rejected,
            "errors": st.errors, "error_samples": st.error_samples, "elapsed_s": elapsed, "rate": rate,
            "lat_p50_ms": statistics.median(st.latencies) * 1000 if st.latencies else float("nan"),
            "lat_p95_ms": pct(st.latencies, 95) * 1000 if st.latencies else float("nan"),
            "lat_max_ms": max(st.latencies) * 1000 if st.latencies else float("nan"),
            "sec_min": min(full_secs) if full_secs else 0, "sec_median": statistics.median(full_secs) if full_secs else 0,
            "server_peak_rss": max((s[1] for s in samples), default=0),
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
        })
        log(f"  HTTP: {st.accepted:,} events in {elapsed:.1f} s = {rate:,.0f} ev/s "
            f"(errors {st.errors}, p95 latency {result['lat_p95_ms']:.0f} ms)")
        result["wrk"] = load_wrk(base, token, sz.http_batch, min(sz.http_seconds, 30.0))
        if result["wrk"] and "rate" in result["wrk"]:
            log(f"  HTTP with wrk: {result['wrk']['rate']:,.0f} ev/s ({result['wrk']['non_2xx']} non-2xx)")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server_log.close()
        result["server_exit"] = proc.returncode
        try:  # what the server stored, read from its workspace once it has stopped
            with Workspace(home, read_only=True) as ws:
                result["server_stored"] = ws.store.query("SELECT count(*) AS n FROM events")[0]["n"]
        except Exception as exc:  # noqa: BLE001
            result["server_stored"] = f"unknown ({type(exc).__name__})"
        if proc.returncode in (0, -15):
            Path(server_log.name).unlink(missing_ok=True)
        shutil.rmtree(home, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------
# 3 + 4. identity resolution and the 360° view on one ~1M-event workspace


def bench_world(sz: Sizes) -> tuple[dict[str, Any], dict[str, Any]]:
    from polku.collect.identity import resolve
    from polku.store import derive
    from polku.workspace import Workspace

    world, n_world, how = events_file("world", sz.world_accounts, sz.world_epa, 5)
    big, account_id, n_big = big_account_file(world, sz.big_events, sz.big_extra_contacts)
    home = fresh_dir("world-ws")
    ident: dict[str, Any] = {"world_file": world.name, "world_events": n_world, "generator": how,
                             "big_file": big.name, "big_events": n_big}
    view: dict[str, Any] = {"account_id": account_id}
    try:
        with Workspace(home) as ws:
            t = time.perf_counter()
            ws.import_events(world)
            ws.import_events(big)
            ident["import_s"] = time.perf_counter() - t
            n_events = ws.store.query("SELECT count(*) AS n FROM events")[0]["n"]
            ident["events"] = n_events
            log(f"identity resolution: workspace of {n_events:,} events (imported in {ident['import_s']:.1f} s)")

            runs = []
            for i in range(sz.refresh_runs):
                t = time.perf_counter()
                stats = ws.refresh(force=True)
                runs.append(time.perf_counter() - t)
                log(f"  refresh(force=True) #{i + 1}: {runs[-1]:.2f} s")
            assert stats is not None
            ident.update({"refresh_runs": runs, "refresh_s": statistics.median(runs), "identities": stats.identities,
                          "contacts": stats.contacts, "accounts": stats.accounts, "merges": stats.merges})

            graph_s, resolve_s = [], []
            for _ in range(2):
                t = time.perf_counter()
                first_seen, links, splits = derive.identity_graph(ws.store)
                t1 = time.perf_counter()
                res = resolve(first_seen, links, splits)
                t2 = time.perf_counter()
                graph_s.append(t1 - t)
                resolve_s.append(t2 - t1)
            ident.update({"graph_s": min(graph_s), "resolve_s": min(resolve_s), "links": len(links),
                          "identifiers": len(first_seen), "resolved_contacts": len(set(res.contact_of.values()))})
            log(f"  identity_graph {ident['graph_s']:.2f} s + resolve {ident['resolve_s']:.2f} s "
                f"({len(first_seen):,} identifiers, {len(links):,} links)")

            ref = []
            for _ in range(3):
                t = time.perf_counter()
                row = ws.store.query(
                    """SELECT count(DISTINCT anonymous_id) AS anon, count(DISTINCT email) AS email,
                              count(DISTINCT crm_id) AS crm,
                              count(DISTINCT (email, anonymous_id)) FILTER (WHERE email IS NOT NULL AND anonymous_id IS NOT NULL) AS links
                       FROM events"""
                )[0]
                ref.append(time.perf_counter() - t)
            ident.update({"ref_s": min(ref), "ref_row": row})
            log(f"  reference count(DISTINCT ...): {min(ref) * 1000:.0f} ms")

            view.update(bench_view(ws, sz, account_id))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return ident, view


def bench_view(ws: Any, sz: Sizes, account_id: str) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from polku.api import create_app

    out: dict[str, Any] = {}
    v = ws.account(account_id)
    out.update({"event_count": v["event_count"], "members": len(v["buying_group"]),
                "total_events": ws.store.query("SELECT count(*) AS n FROM events")[0]["n"]})
    log(f"360° view: account {account_id} with {v['event_count']:,} events, {len(v['buying_group'])} contacts")
    for _ in range(10):
        ws.account(account_id)
    lat = []
    for _ in range(sz.view_calls):
        t = time.perf_counter()
        ws.account(account_id)
        lat.append(time.perf_counter() - t)
    out.update({"p50_ms": statistics.median(lat) * 1000, "p95_ms": pct(lat, 95) * 1000,
                "max_ms": max(lat) * 1000, "calls": len(lat)})
    log(f"  ws.account: p50 {out['p50_ms']:.1f} ms, p95 {out['p95_ms']:.1f} ms")

    ref = []
    for _ in range(sz.view_calls):
        t = time.perf_counter()
        ws.store.query("SELECT count(*) AS n FROM events WHERE account_id = ?", [account_id])
        ref.append(time.perf_counter() - t)
    out.update({"ref_p95_ms": pct(ref, 95) * 1000, "ref_p50_ms": statistics.median(ref) * 1000,
                "ref_count": ws.store.query("SELECT count(*) AS n FROM events WHERE account_id = ?", [account_id])[0]["n"]})
    log(f"  reference count(*): p95 {out['ref_p95_ms']:.1f} ms")

    token = ws.create_key("read", "bench")
    with TestClient(create_app(ws), base_url="http://testserver") as client:
        headers = {"authorization": f"Bearer {token}"}
        r = client.get(f"/v1/accounts/{account_id}", headers=headers)
        r.raise_for_status()
        for _ in range(5):
            client.get(f"/v1/accounts/{account_id}", headers=headers)
        hl = []
        for _ in range(sz.view_calls):
            t = time.perf_counter()
            r = client.get(f"/v1/accounts/{account_id}", headers=headers)
            hl.append(time.perf_counter() - t)
            assert r.status_code == 200
    out.update({"http_p50_ms": statistics.median(hl) * 1000, "http_p95_ms": pct(hl, 95) * 1000})
    log(f"  GET /v1/accounts/{{key}} (TestClient): p95 {out['http_p95_ms']:.1f} ms")
    return out


# ---------------------------------------------------------------------------------------
# report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**MISS**"


def write_results(sz: Sizes, m: dict[str, Any], r: dict[str, Any], started: dt.datetime, total_s: float,
                  command: str) -> None:
    rows = []
    notes = []
    if "http" in r:
        h = r["http"]
        rows.append([
            f"1. HTTP ingestion (`polku serve`, batches of {sz.http_batch}, {sz.http_threads} clients)",
            f"≥ {fmt_int(TARGETS['http_eps'])} events/s",
            f"{fmt_int(h['rate'])} events/s",
            f"in-process `ws.ingest`: {fmt_int(h['ref_rate'])} events/s",
            f"{h['rate'] / h['ref_rate']:.2f}× of in-process",
            verdict(h["rate"] >= TARGETS["http_eps"] and h["errors"] == 0),
        ])
        wk = h.get("wrk")
        if wk and "rate" in wk:
            rows.append([
                f"1b. HTTP ingestion, load from `wrk` (2 threads, 4 connections, batches of {sz.http_batch})",
                f"≥ {fmt_int(TARGETS['http_eps'])} events/s",
                f"{fmt_int(wk['rate'])} events/s",
                f"in-process `ws.ingest`: {fmt_int(h['ref_rate'])} events/s",
                f"{wk['rate'] / h['ref_rate']:.2f}× of in-process",
                verdict(wk["rate"] >= TARGETS["http_eps"] and wk["non_2xx"] == 0),
            ])
            notes.append(
                f"**HTTP ingestion with wrk.** {wk['requests']:,} requests of {sz.http_batch} new events each in "
                f"{wk['seconds']:.1f} s against the same server after the Python run, {wk['non_2xx']} non-2xx, "
                f"p99 latency {wk['p99_ms']:.0f} ms. wrk (Debian package `wrk`) leaves more of the 2 cores to the "
                "server than the Python clients do; each request body is built by a Lua script with unique event ids."
            )
        notes.append(
            f"**HTTP ingestion.** {fmt_int(h['accepted'])} events accepted in {h['elapsed_s']:.1f} s "
            f"({h['requests']:,} requests, {h['errors']} errors, {h['duplicates']} duplicates, {h['rejected']} rejected; "
            f"events in the server's workspace afterwards, counted after it stopped: {fmt_int(h['server_stored']) if isinstance(h.get('server_stored'), int) else h.get('server_stored')}; it exited with "
            f"{h.get('server_exit')}). "
            f"Per full second: min {fmt_int(h['sec_min'])}, median {fmt_int(h['sec_median'])} events. "
            f"Request latency p50 {h['lat_p50_ms']:.0f} ms, p95 {h['lat_p95_ms']:.0f} ms, max {h['lat_max_ms']:.0f} ms. "
            f"Server peak RSS {fmt_bytes(h['server_peak_rss'])}; CPU during the run: server {h['server_cpu_s']:.1f} s, "
            f"load generator {h['client_cpu_s']:.1f} s (both share the {m['nproc']} cores). "
            f"Bodies are pre-built JSON ({h['bodies']:,} × {sz.http_batch} events, {h['body_mib']:.0f} MiB) from the bulk "
            f"sim file, sent with httpx keep-alive clients to {HOST} only; the run stops after "
            f"{sz.http_seconds:.0f} s or {fmt_int(sz.http_max_events)} events. Reference: the same batches (already parsed) "
            f"through `Workspace.ingest` in this process, {fmt_int(h['ref_events'])} events. "
            f"The same client loop on `GET /health` does {fmt_int(h['health_rps'])} requests/s "
            f"(= {fmt_int(h['health_rps'] * sz.http_batch)} events/s if a batch cost no more than /health)."
        )
    if "import" in r:
        i = r["import"]
        rows.append([
            f"2a. Bulk import, {fmt_int(i['events'])} events from Parquet (`import_events`)",
            f"≥ {fmt_int(TARGETS['import_eps'])} events/s",
            f"{fmt_int(i['rate'])} events/s ({i['import']['import_s']:.1f} s)",
            f"DuckDB `CREATE TABLE AS` from the file: {fmt_int(i['ctas_rate'])} events/s",
            f"{i['rate'] / i['ctas_rate']:.2f}× of CTAS",
            verdict(i["rate"] >= TARGETS["import_eps"]),
        ])
        rows.append([
            "2b. Bulk import, peak memory (RSS of the importing process)",
            f"< {fmt_bytes(TARGETS['import_rss'])}",
            fmt_bytes(i["import"]["maxrss"]),
            f"DuckDB `CREATE TABLE AS`: {fmt_bytes(i['ctas']['maxrss'])}",
            f"{i['import']['maxrss'] / i['ctas']['maxrss']:.2f}× of CTAS",
            verdict(i["import"]["maxrss"] < TARGETS["import_rss"]),
        ])
        notes.append(
            f"**Bulk import.** File `{i['file']}` ({i['file_mib']:.0f} MiB, zstd, made by {i['generator']}). "
            f"A child process opens a fresh workspace and calls `Workspace.import_events` once; the rate is "
            f"inserted events ÷ the time of that call ({i['import']['inserted']:,} inserted, {i['import']['duplicates']} "
            f"duplicates, {i['import']['rejected']} rejected); the whole child took {i['child_wall_s']:.1f} s including "
            f"Python start-up. Peak memory is the child's own `ru_maxrss` (psutil polling saw {fmt_bytes(i['poll_peak'])}). "
            f"Workspace on disk afterwards: {fmt_bytes(i['db_bytes'])} (CTAS file: {fmt_bytes(i['ctas_db_bytes'])}). "
            f"References on the same file in the same run: `SELECT count(*), sum(length(event_id)) FROM read_parquet(...)` "
            f"{i['scan_s']:.2f} s = {fmt_int(i['scan_rate'])} rows/s (best of 3); `CREATE TABLE AS SELECT * FROM "
            f"read_parquet(...)` into a new DuckDB file in a child process {i['ctas']['ctas_s']:.2f} s (best of 2)."
        )
    if "identity" in r:
        d = r["identity"]
        rows.append([
            f"3a. `ws.refresh(force=True)` over {fmt_int(d['events'])} events",
            f"< {TARGETS['refresh_s']:.0f} s",
            f"{d['refresh_s']:.2f} s",
            f"DuckDB `count(DISTINCT …)` over the identity columns: {d['ref_s'] * 1000:.0f} ms",
            f"{d['refresh_s'] / d['ref_s']:.0f}× slower",
            verdict(d["refresh_s"] < TARGETS["refresh_s"]),
        ])
        rows.append([
            "3b. identity part only (`identity_graph` + `resolve`)",
            "(part of 3a)",
            f"{d['graph_s'] + d['resolve_s']:.2f} s ({d['graph_s']:.2f} + {d['resolve_s']:.2f})",
            f"same: {d['ref_s'] * 1000:.0f} ms",
            f"{(d['graph_s'] + d['resolve_s']) / d['ref_s']:.0f}× slower",
            "-",
        ])
        runs = ", ".join(f"{x:.2f}" for x in d["refresh_runs"])
        notes.append(
            f"**Identity resolution.** Workspace built from `{d['world_file']}` ({fmt_int(d['world_events'])} events, "
            f"{d['generator']}) plus `{d['big_file']}` ({fmt_int(d['big_events'])} events of one account), imported in "
            f"{d['import_s']:.1f} s. Refresh runs (s): {runs}; the table shows the median. Result: "
            f"{fmt_int(d['identities'])} identifiers → {fmt_int(d['contacts'])} contacts in {fmt_int(d['accounts'])} accounts, "
            f"{d['merges']} merges. Identity graph: {fmt_int(d['identifiers'])} identifiers, {fmt_int(d['links'])} links "
            f"(best of 2 runs each). Reference query result: {d['ref_row']}."
        )
    if "view" in r:
        v = r["view"]
        rows.append([
            f"4a. 360° view `ws.account(key)`, account with {fmt_int(v['event_count'])} events "
            f"in {fmt_int(v['total_events'])}",
            f"p95 < {TARGETS['account_p95_ms']:.0f} ms",
            f"p95 {v['p95_ms']:.1f} ms (p50 {v['p50_ms']:.1f})",
            f"`SELECT count(*) FROM events WHERE account_id = ?`: p95 {v['ref_p95_ms']:.1f} ms",
            f"{v['p95_ms'] / v['ref_p95_ms']:.1f}× slower",
            verdict(v["p95_ms"] < TARGETS["account_p95_ms"]),
        ])
        rows.append([
            "4b. `GET /v1/accounts/{key}` (in-process TestClient)",
            f"p95 < {TARGETS['account_p95_ms']:.0f} ms",
            f"p95 {v['http_p95_ms']:.1f} ms (p50 {v['http_p50_ms']:.1f})",
            f"same: p95 {v['ref_p95_ms']:.1f} ms",
            f"{v['http_p95_ms'] / v['ref_p95_ms']:.1f}× slower",
            verdict(v["http_p95_ms"] < TARGETS["account_p95_ms"]),
        ])
        notes.append(
            f"**360° view.** Account `{v['account_id']}` (the sim account with the most known contacts, given "
            f"{fmt_int(r['identity']['big_events'] if 'identity' in r else 0)} extra events shaped like sampled sim events, "
            f"spread over its contacts plus synthetic extra members): {v['members']} contacts, {fmt_int(v['event_count'])} "
            f"events in its timeline. {v['calls']} timed calls after 10 warm-up calls, default timeline limit; "
            f"the workspace is refreshed beforehand so no call triggers a refresh. The reference count returns "
            f"{fmt_int(v['ref_count'])} (events carrying the account id), timed the same way on the same connection."
        )

    for name, err in r.get("errors", {}).items():
        rows.append([f"{name} benchmark", "-", "failed to run", "-", "-", "**ERROR**"])
        notes.append(f"**{name} failed:** `{err.strip().splitlines()[-1] if err.strip() else err}`")
    lines = [
        "# Polku benchmark results",
        "",
        f"- Date: {started.strftime('%Y-%m-%d %H:%M UTC')}, total run time {total_s / 60:.1f} min",
        f"- Command: `{command}` (sizes: {sz.name})",
        f"- Machine: {m['nproc']} cores, {fmt_bytes(m['memory'])} RAM, CPU {m['cpu']}, {m['os']}",
        f"- Software: Python {m['python']}, DuckDB {m['duckdb']}, polku {m['polku']} (commit {m['commit']})",
        "",
        "| benchmark | target | measured | reference | ratio | verdict |",
        "|---|---|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in rows],
        "",
        *area_rows(r),
        "## Notes",
        "",
        *[f"- {n}\n" for n in notes],
    ]
    if r.get("profile"):
        lines += ["## Where the time goes", "", r["profile"], ""]
    if sz.name != "full":
        lines.insert(2, "> **Quick run (small sizes): these figures only check the script; run `make bench` for real ones.**\n")
    RESULTS.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------


# Benchmarks of the later areas live in their own scripts, each with run(quick) -> rows.
AREAS: dict[str, str] = {
    "analytics": "bench_analytics",
    "attribution": "bench_attribution",
    "scoring": "bench_scoring",
    "nurture": "bench_nurture",
    "dashboard": "bench_dashboard",
    "cx_survey": "bench_cx_survey",
    "cx_text": "bench_cx_text",
    "cx_health": "bench_cx_health",
}


def bench_area(module: str, quick: bool) -> list[dict[str, Any]]:
    """Run one area's benchmark script in a child process (its own peak memory) and return its rows."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import importlib; "
        f"rows = importlib.import_module({module!r}).run(quick={quick}); "
        "print('ROWS ' + json.dumps(rows, default=str))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(BENCH)], cwd=ROOT, capture_output=True, text=True, timeout=3600
    )
    sys.stderr.write(proc.stderr[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(f"{module} exited with {proc.returncode}: {proc.stderr.strip()[-600:]}")
    line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("ROWS "))
    return list(json.loads(line[5:]))


def area_rows(r: dict[str, Any]) -> list[str]:
    """The table of the later areas' benchmarks, as Markdown lines."""
    rows = [row for area in AREAS for row in r.get(area, [])]
    if not rows:
        return []
    keys = ["benchmark", "target", "measured", "reference", "ratio", "verdict"]
    return [
        "## Analytics, attribution, scoring, nurture, dashboard and CX",
        "",
        "| " + " | ".join(keys) + " |",
        "|---|---|---|---|---|---|",
        *["| " + " | ".join(str(row.get(k, "-")) for k in keys) + " |" for row in rows],
        "",
    ]


def guarded(results: dict[str, Any], name: str, fn: Any) -> None:
    import traceback

    try:
        results.update(fn())
    except Exception as exc:  # noqa: BLE001 - reported in RESULTS.md
        traceback.print_exc()
        results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {str(exc)[-800:]}"
        log(f"{name} FAILED: {type(exc).__name__}: {exc}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_import":
        child_import(argv[1], argv[2])
        return 0
    if argv and argv[0] == "_ctas":
        child_ctas(argv[1], argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (checks the script in under a minute)")
    ap.add_argument("--only", default="http,import,identity," + ",".join(AREAS),
                    help="comma-separated subset of http,import,identity," + ",".join(AREAS)
                    + " (identity includes the 360° view)")
    ap.add_argument("--clean", action="store_true", help="delete bench/data afterwards (input files are otherwise reused)")
    ap.add_argument("--output", type=Path, default=None, help="where to write the results (default bench/RESULTS.md)")
    args = ap.parse_args(argv)
    global RESULTS
    if args.output:
        RESULTS = args.output
    sz = QUICK if args.quick else FULL
    only = set(args.only.split(","))
    command = "python bench/run.py" + (" " + " ".join(argv) if argv else "")
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    DATA.mkdir(parents=True, exist_ok=True)
    m = machine()
    log(f"Polku benchmarks ({sz.name}) on {m['nproc']} cores, {fmt_bytes(m['memory'])}, {m['cpu']}")
    results: dict[str, Any] = {}
    try:
        if "import" in only or "http" in only:
            bulk, _, _ = events_file("bulk", -(-sz.bulk_events // 150), 150, 11)
        # A failing benchmark (e.g. code being edited) is reported, and the others still run.
        if "import" in only:
            guarded(results, "import", lambda: {"import": bench_import(sz)})
        if "http" in only:
            guarded(results, "http", lambda: {"http": bench_http(sz, bulk)})
        if "identity" in only:
            guarded(results, "identity", lambda: dict(zip(("identity", "view"), bench_world(sz), strict=True)))
        for area, module in AREAS.items():
            if area in only:
                log(f"{area}: bench/{module}.py")
                guarded(results, area, lambda area=area, module=module: {area: bench_area(module, args.quick)})
    finally:
        for p in DATA.glob(f"*-{os.getpid()}"):
            shutil.rmtree(p, ignore_errors=True)
        if args.clean:
            shutil.rmtree(DATA, ignore_errors=True)
    total = time.perf_counter() - t0
    write_results(sz, m, results, started, total, command)
    log(f"wrote {RESULTS} ({total / 60:.1f} min)")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    raise SystemExit(main())
