"""Dashboard benchmark: server time of the account 360° page and of the overview.

    python bench/bench_dashboard.py            # ~1M-event workspace with a 100k-event account
    python bench/bench_dashboard.py --quick    # small sizes, checks the script

The workspace is built the way bench/run.py builds its identity/360° workspace
(``events_file`` + ``big_account_file``, reused from bench/data/). Pages are requested
in-process with a signed-in TestClient, so the figure is server time without a network.

1. ``GET /accounts/{key}`` (HTML, the latest 50 touchpoints, map, charts): p95 against a
   300 ms target; reference in the same run: ``GET /v1/accounts/{key}`` (JSON) and a plain
   DuckDB ``count(*)`` of the account's events.
2. ``GET /overview`` on the whole workspace: p95 against 1 s; reference: ``GET /v1/stats``
   and a plain DuckDB ``count(*)`` of the events.

``run(quick)`` returns rows with benchmark/target/measured/reference/ratio/verdict for
bench/run.py; ``main()`` prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

BENCH = Path(__file__).resolve().parent
ACCOUNT_TARGET_MS: Final = 300.0
OVERVIEW_TARGET_MS: Final = 1000.0
PASSWORD: Final = "bench-password-123"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(0.95 * len(s) + 0.5) - 1))]


def timed(fn: Callable[[], Any], calls: int, warm: int = 3) -> list[float]:
    """Milliseconds of ``calls`` calls of ``fn`` after ``warm`` unmeasured ones."""
    for _ in range(warm):
        fn()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def build(quick: bool) -> tuple[Path, str]:
    """A workspace folder with the bench world and its big account; returns (home, account id)."""
    sys.path.insert(0, str(BENCH))
    import run as bench_run  # bench/run.py: the shared world and big-account files

    from polku.workspace import Workspace

    sz = bench_run.QUICK if quick else bench_run.FULL
    world, _, _ = bench_run.events_file("world", sz.world_accounts, sz.world_epa, 5)
    big, account_id, _ = bench_run.big_account_file(world, sz.big_events, sz.big_extra_contacts)
    home = bench_run.fresh_dir("dashboard-ws")
    t = time.perf_counter()
    with Workspace(home) as ws:
        ws.import_events(world)
        ws.import_events(big)
        ws.refresh()
    log(f"workspace built in {time.perf_counter() - t:.1f} s")
    return home, account_id


def measure(home: Path, account_id: str, calls: int) -> dict[str, Any]:
    """p50/p95 of the pages and their references."""
    from fastapi.testclient import TestClient

    from polku.api import create_app
    from polku.web import users
    from polku.workspace import Workspace

    out: dict[str, Any] = {}
    with Workspace(home) as ws:
        users.create_user(ws.store, "bench", "viewer", PASSWORD)
        token = ws.create_key("read", "bench")
        out["events"] = ws.store.query("SELECT count(*) AS n FROM events")[0]["n"]
        with TestClient(create_app(ws)) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf": csrf})
            key = {"Authorization": f"Bearer {token}"}

            def ok(path: str, headers: dict[str, str] | None = None) -> Callable[[], None]:
                def call() -> None:
                    r = client.get(path, headers=headers)
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                return call

            view = client.get(f"/v1/accounts/{account_id}", headers=key).json()
            out["account_events"] = view["event_count"]
            out["members"] = len(view["buying_group"])
            log(f"account {account_id}: {out['account_events']:,} events, {out['members']} people; "
                f"workspace {out['events']:,} events")
            series = {
                "account_page": timed(ok(f"/accounts/{account_id}"), calls),
                "account_json": timed(ok(f"/v1/accounts/{account_id}", key), calls),
                "account_count": timed(lambda: ws.store.query(
                    "SELECT count(*) AS n FROM events WHERE account_id = ?", [account_id]), calls),
                "overview_page": timed(ok("/overview"), max(10, calls // 4)),
                "stats_json": timed(ok("/v1/stats", key), max(10, calls // 4)),
                "events_count": timed(lambda: ws.store.query("SELECT count(*) AS n FROM events"), calls),
            }
    for name, values in series.items():
        out[f"{name}_p50"] = statistics.median(values)
        out[f"{name}_p95"] = p95(values)
        log(f"  {name}: p50 {out[f'{name}_p50']:.1f} ms, p95 {out[f'{name}_p95']:.1f} ms ({len(values)} calls)")
    return out


def rows(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The result table's rows."""
    acc, ovw = m["account_page_p95"], m["overview_page_p95"]
    return [
        {
            "benchmark": f"account 360° page, {m['account_events']:,} events ({m['members']} people), p95",
            "target": f"< {ACCOUNT_TARGET_MS:.0f} ms",
            "measured": f"{acc:.1f} ms (p50 {m['account_page_p50']:.1f})",
            "reference": f"GET /v1/accounts/{{key}} p95 {m['account_json_p95']:.1f} ms; "
                         f"DuckDB count p95 {m['account_count_p95']:.1f} ms",
            "ratio": f"{acc / m['account_json_p95']:.2f}x the JSON call",
            "verdict": "PASS" if acc < ACCOUNT_TARGET_MS else "**MISS**",
        },
        {
            "benchmark": f"overview page, {m['events']:,} events, p95",
            "target": f"< {OVERVIEW_TARGET_MS:.0f} ms",
            "measured": f"{ovw:.1f} ms (p50 {m['overview_page_p50']:.1f})",
            "reference": f"GET /v1/stats p95 {m['stats_json_p95']:.1f} ms; "
                         f"DuckDB count(*) p95 {m['events_count_p95']:.1f} ms",
            "ratio": f"{ovw / m['stats_json_p95']:.2f}x GET /v1/stats",
            "verdict": "PASS" if ovw < OVERVIEW_TARGET_MS else "**MISS**",
        },
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    """Build (or reuse) the data, measure, delete the workspace; rows for bench/run.py."""
    home, account_id = build(quick)
    try:
        return rows(measure(home, account_id, calls=30 if quick else 100))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, checks the script")
    args = parser.parse_args(argv)
    keys = ["benchmark", "target", "measured", "reference", "ratio", "verdict"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in run(args.quick):
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
