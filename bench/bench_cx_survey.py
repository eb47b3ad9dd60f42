"""Survey answer page benchmark: requests/s and p95 of GET /s/{token} from a loopback load generator.

    python bench/bench_cx_survey.py            # 5,000 invitations, 20 s of load per route
    python bench/bench_cx_survey.py --quick    # 500 invitations, 4 s per route (checks the script)

A workspace with one survey (NPS, CES, a choice and free text, in English and Finnish) and
one invitation per contact is built in bench/data/, then ``polku serve`` runs on it in a
child process on 127.0.0.1. The load generator is a small asyncio HTTP/1.1 client in this
process (keep-alive connections, bounded by time and count): every request asks for a
different invitation's page, round-robin, so no two requests in a row share a token. The
page and the reference take turns in four slices each, so drifting load on the shared
machine hits both alike.
Reference in the same run: the same load on ``GET /health`` of the same server (a trivial
route: what the server and the client cost without the survey's lookup and page), and both
routes called in-process through the ASGI app (the server's own work per request, without
the network, HTTP parsing or the client). The client shares the machine's cores with the
server, so the HTTP figures are lower bounds.

``run(quick)`` returns rows with benchmark/target/measured/reference/ratio/verdict for
bench/run.py; ``main()`` prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
HOST: Final = "127.0.0.1"
TARGET_RPS: Final = 500.0
TARGET_P95_MS: Final = 50.0
SLICES: Final = 4  # the page and the reference take turns this many times
SURVEY: Final = """\
title: {en: "How are we doing?", fi: "Miten onnistumme?"}
intro: {en: "Four questions, one minute.", fi: "Neljä kysymystä, minuutti."}
questions:
  - id: nps
    type: nps
    text: {en: "How likely are you to recommend us to a colleague?", fi: "Kuinka todennäköisesti suosittelisit meitä kollegalle?"}
  - id: ces
    type: ces
    text: {en: "We made it easy for me to handle my issue.", fi: "Asiani hoitaminen oli helppoa."}
  - id: area
    type: choice
    required: false
    text: {en: "What matters most to you?", fi: "Mikä on sinulle tärkeintä?"}
    choices:
      - {id: speed, label: {en: Speed, fi: Nopeus}}
      - {id: quality, label: {en: Quality, fi: Laatu}}
      - {id: people, label: {en: People, fi: Ihmiset}}
  - id: comment
    type: text
    text: {en: "Anything else?", fi: "Muuta kerrottavaa?"}
"""


@dataclass(frozen=True)
class Sizes:
    """How much to build and load."""

    invites: int
    seconds: float
    max_requests: int
    connections: int


FULL = Sizes(invites=5_000, seconds=20.0, max_requests=200_000, connections=8)
QUICK = Sizes(invites=500, seconds=4.0, max_requests=20_000, connections=8)


def log(msg: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100)."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def build(home: Path, n: int) -> list[str]:
    """A workspace with one survey and ``n`` invited contacts; returns the pages' paths (/s/{token})."""
    sys.path.insert(0, str(ROOT / "src"))
    from polku import Workspace
    from polku.cx.surveys import Occasion, Surveys

    (home / "surveys").mkdir(parents=True)
    (home / "surveys" / "pulse.yaml").write_text(SURVEY, encoding="utf-8")
    paths: list[str] = []
    with Workspace(home) as ws:
        calls = [{"email": f"p{i}@company-{i // 5}.example", "account_id": f"A{i // 5}",
                  "traits": {"name": f"Person {i}", "language": "fi" if i % 3 == 0 else "en"}} for i in range(n)]
        for start in range(0, n, 5000):
            result = ws.ingest(calls[start:start + 5000], "bench", identify=True)
            assert not result.rejected, result.rejected[:3]
        ws.refresh()
        surveys = Surveys(ws)
        for start in range(0, n, 1000):
            keys = [c["email"] for c in calls[start:start + 1000]]
            made = surveys.invite("pulse", keys, Occasion(channel="email"), "http://bench")
            paths += [m["url"].removeprefix("http://bench") for m in made]
    return paths


@dataclass
class Load:
    """What one load run saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rps(self) -> float:
        """Requests answered per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def _connection(port: int, paths: list[str], start: int, step: int, deadline: float, budget: list[int],
                      out: Load) -> None:
    """One keep-alive connection asking for pages in turn (paths start, start+step, ...) until time or budget is up."""
    reader, writer = await asyncio.open_connection(HOST, port)
    i = start
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            path = paths[i % len(paths)]
            i += step
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept-Language: fi,en;q=0.8\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            out.latencies.append(time.perf_counter() - began)
            out.statuses[status] = out.statuses.get(status, 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.errors.append(repr(exc))
    finally:
        writer.close()


async def _load(port: int, paths: list[str], sizes: Sizes, seconds: float) -> Load:
    out = Load()
    budget = [sizes.max_requests]
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(_connection(port, paths, c, sizes.connections, deadline, budget, out)
                           for c in range(sizes.connections)))
    out.seconds = time.perf_counter() - began
    return out


def load(port: int, paths: list[str], sizes: Sizes, seconds: float) -> Load:
    """Requests from ``sizes.connections`` keep-alive connections for ``seconds`` (or the request budget)."""
    return asyncio.run(_load(port, paths, sizes, seconds))


def serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    """`polku serve` on the workspace in a child process, once it answers /health."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from polku.cli import app; app()", "--home", str(home), "serve",
         "--host", HOST, "--port", str(port), "--refresh-seconds", "3600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"polku serve exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("polku serve did not answer /health within 120 s")


def asgi_costs(home: Path, paths: list[str], calls: int) -> dict[str, float]:
    """CPU milliseconds per request of the page and of /health called in-process through the ASGI app (no network,
    no HTTP parsing, no client): the server's own work for each, measured alike (best of three rounds; CPU time,
    so other processes on the machine matter less)."""
    from polku import Workspace
    from polku.api import create_app

    async def go() -> dict[str, float]:
        with Workspace(home) as ws:
            app = create_app(ws, refresh_seconds=3600)

            async def call(path: str) -> int:
                scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                         "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                         "root_path": "", "headers": [(b"host", HOST.encode()), (b"accept-language", b"fi,en;q=0.8")],
                         "client": (HOST, 1), "server": (HOST, 80), "state": {}, "app": app}
                sent: list[dict[str, Any]] = []

                async def receive() -> dict[str, Any]:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def send(message: dict[str, Any]) -> None:
                    sent.append(message)

                await app(scope, receive, send)
                return int(sent[0]["status"])

            out: dict[str, list[float]] = {"page": [], "health": []}
            async with app.router.lifespan_context(app):
                for _ in range(3):
                    for name, targets in (("page", paths), ("health", ["/health"])):
                        assert await call(targets[0]) == 200
                        began = time.process_time()
                        for i in range(calls):
                            await call(targets[i % len(targets)])
                        out[name].append((time.process_time() - began) / calls * 1000)
            return {k: min(v) for k, v in out.items()}

    costs = asyncio.run(go())
    log(f"  in-process ASGI: page {costs['page']:.2f} ms, /health {costs['health']:.2f} ms CPU per request")
    return costs


def summary(name: str, got: Load) -> dict[str, Any]:
    """Rate and latency percentiles of one load run (logged)."""
    ms = [x * 1000 for x in got.latencies]
    out = {"requests": len(ms), "rps": got.rps, "p50": statistics.median(ms) if ms else float("nan"),
           "p95": pct(ms, 95) if ms else float("nan"), "statuses": got.statuses, "errors": got.errors[:3]}
    log(f"  {name}: {out['requests']:,} requests in {got.seconds:.1f} s = {out['rps']:,.0f} req/s, "
        f"p50 {out['p50']:.1f} ms, p95 {out['p95']:.1f} ms, statuses {got.statuses}")
    return out


def measure(quick: bool) -> dict[str, Any]:
    """Build the workspace, serve it, load the page and the reference route; the workspace is deleted after."""
    sizes = QUICK if quick else FULL
    home = DATA / f"cx-survey-{os.getpid()}" / "ws"
    shutil.rmtree(home.parent, ignore_errors=True)
    try:
        t = time.perf_counter()
        paths = build(home, sizes.invites)
        log(f"  built a workspace with {len(paths):,} invitations in {time.perf_counter() - t:.1f} s")
        port = free_port()
        proc = serve(home, port)
        try:
            load(port, paths, sizes, 1.0)  # warm-up: connections, caches, the page template
            # the two routes take turns in slices, so a change in the machine's load hits both alike
            runs: dict[str, Load] = {"page": Load(), "health": Load()}
            offset = 0
            for _ in range(SLICES):
                for name, targets in (("page", paths[offset:] + paths[:offset]), ("health", ["/health"])):
                    got = load(port, targets, sizes, sizes.seconds / SLICES)
                    runs[name].latencies += got.latencies
                    runs[name].errors += got.errors
                    runs[name].seconds += got.seconds
                    for status, n in got.statuses.items():
                        runs[name].statuses[status] = runs[name].statuses.get(status, 0) + n
                offset = (offset + len(runs["page"].latencies)) % len(paths)
            page = summary("GET /s/{token}", runs["page"])
            health = summary("GET /health", runs["health"])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        asgi = asgi_costs(home, paths, 500 if quick else 2000)
        return {"invites": len(paths), "connections": sizes.connections, "seconds": sizes.seconds,
                "page": page, "health": health, "asgi": asgi, "load": os.getloadavg()[0]}
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)


def rows(m: dict[str, Any]) -> list[dict[str, Any]]:
    """The result table's rows."""
    page, health = m["page"], m["health"]
    ok = page["statuses"].get(200, 0) == page["requests"] and not page["errors"]
    passed = ok and page["rps"] >= TARGET_RPS and page["p95"] < TARGET_P95_MS
    return [{
        "benchmark": (f"survey answer page GET /s/{{token}}, {m['invites']:,} invitations, {m['connections']} "
                      f"keep-alive connections for {m['seconds']:.0f} s (client in the same 2 cores)"),
        "target": f">= {TARGET_RPS:.0f} req/s, p95 < {TARGET_P95_MS:.0f} ms",
        "measured": f"{page['rps']:,.0f} req/s, p95 {page['p95']:.1f} ms (p50 {page['p50']:.1f})"
                    + ("" if ok else f"; NOT ALL 200: {page['statuses']} {page['errors']}"),
        "reference": (f"GET /health same server: {health['rps']:,.0f} req/s, p95 {health['p95']:.1f} ms; in-process "
                      f"ASGI CPU per request: page {m['asgi']['page']:.2f} ms, /health {m['asgi']['health']:.2f} ms; "
                      f"load average {m['load']:.1f} on 2 cores"),
        "ratio": f"{page['rps'] / health['rps']:.2f}x the /health rate" if health["rps"] else "-",
        "verdict": "PASS" if passed else "**MISS**",
    }]


def run(quick: bool) -> list[dict[str, Any]]:
    """Build, serve, load, clean up; rows for bench/run.py."""
    return rows(measure(quick))


def main(argv: list[str] | None = None) -> int:
    """Run and print the rows as a Markdown table."""
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
