"""Nurture benchmarks: one tick over 100,000 active enrolments, and delivery to a loopback SMTP server.

    python bench/bench_nurture.py            # 100,000 contacts, 3,000 messages delivered
    python bench/bench_nurture.py --quick    # 5,000 contacts, 400 messages (checks the script)

1. Tick: a workspace of N identified contacts (imported from Parquet, derived views
   refreshed before timing) and one journey (send, wait 3 days, branch on whether the first
   e-mail was opened, then a notification to the account owner or a second e-mail and a wait
   for its click). Tick 1 enrols every contact and queues the first e-mail; tick 2, four
   days later, runs over N active enrolments: the wait ends, the branch's condition is
   evaluated against the opens (10% opened), and N outbox rows are written. Delivery is not
   part of the ticks. Target: tick 2 < 10 s. Reference: a plain DuckDB INSERT of the same
   outbox rows into a table of the same schema.
2. Delivery: M queued e-mails to aiosmtpd running in a separate process on 127.0.0.1 through
   the two-phase SMTP channel (claim, stage, mark committing, final dot, record). Target
   >= 200 messages/s. Reference: the same message bytes sent with plain smtplib
   ``sendmail`` over the same number of connections (no outbox, no bookkeeping).

For scale outside this machine: a Mautic user reported ``mautic:campaigns:trigger`` taking
40 minutes for 50,000 scheduled events, about 21 events/s
(https://github.com/mautic/mautic/issues/5423), and default Mautic SMTP sending is bounded
at about 2-5 e-mails/s, 667/s after tuning with several workers
(https://www.mautomic.com/blog/mautic-email-queue-optimization). Those are other machines
and setups, quoted for orientation only.

``run(quick)`` returns rows with benchmark/target/measured/reference/ratio/verdict for
bench/run.py; ``main()`` prints them as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

FULL_CONTACTS: Final = 100_000
QUICK_CONTACTS: Final = 5_000
FULL_MESSAGES: Final = 3_000
QUICK_MESSAGES: Final = 400
TICK_TARGET_S: Final = 10.0
RATE_TARGET: Final = 200.0
CONNECTIONS: Final = 32
OPEN_SHARE: Final = 0.10

CONTENT: Final = """templates:
  - id: hello
    subject: "Hello {{ contact.name }}"
    text: |
      Hi {{ contact.name }},
      here is the guide you asked about: {{ link('https://example.com/guide') }}
  - id: reminder
    subject: "Did you see this, {{ contact.name }}?"
    text: |
      Hi again {{ contact.name }}, the guide is still here: {{ link('https://example.com/guide') }}
  - id: owner-note
    subject: "{{ contact.email }} opened the welcome e-mail"
    text: "{{ contact.name }} ({{ contact.email }}) opened it."
"""
JOURNEY: Final = """name: Benchmark welcome
trigger: {segment: {trait: name, present: true}}
audience: {requires: [contact.name]}
goal: {did: quote_requested, within: 30d}
steps:
  - id: intro
    send: hello
  - id: pause
    wait: 3d
  - id: check
    branch: {if: {opened: intro}, then: hot, else: nudge}
  - id: hot
    notify_owner: {template: owner-note, fallback: sales@example.com}
    next: end
  - id: nudge
    send: reminder
  - id: wait-click
    wait_for: {until: {clicked: nudge}, timeout: 5d}
"""
SINK: Final = """
import sys, time
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1])); c.start()
print("ready", flush=True); time.sleep(float(sys.argv[2])); c.stop()
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _identify_file(path: Path, n: int) -> Path:
    now = datetime.now(UTC) - timedelta(days=1)
    pq.write_table(pa.table({
        "event_id": [f"id-{i}" for i in range(n)], "ts": [now] * n, "type": ["identify"] * n, "channel": ["web"] * n,
        "email": [f"c{i}@bench{i % 997}.example" for i in range(n)],
        "properties": [json.dumps({"name": f"Contact {i}", "account": {"name": f"Account {i % 997}"}}) for i in range(n)],
    }), path)
    return path


def _opens_file(path: Path, rows: list[dict[str, Any]], at: datetime) -> Path:
    pq.write_table(pa.table({
        "event_id": [f"open-{r['message_id']}" for r in rows], "ts": [at] * len(rows), "type": ["email_open"] * len(rows),
        "channel": ["email"] * len(rows), "email": [r["recipient"] for r in rows],
        "properties": [json.dumps({"message_id": r["message_id"]}) for r in rows],
    }), path)
    return path


def bench_tick(home: Path, n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two ticks over n contacts; the second is the one measured. Returns the row and set-up figures."""
    import pandas  # noqa: F401 - the first Arrow registration imports it; keep that out of every timing

    from polku import Workspace
    from polku.nurture.engine import Engine

    (home / "content").mkdir(parents=True)
    (home / "journeys").mkdir()
    (home / "content" / "library.yaml").write_text(CONTENT)
    (home / "journeys" / "welcome.yaml").write_text(JOURNEY)
    setup: dict[str, Any] = {}
    with Workspace(home) as ws:
        started = time.perf_counter()
        ws.import_events(_identify_file(home.parent / "people.parquet", n))
        setup["import_s"] = time.perf_counter() - started
        started = time.perf_counter()
        ws.refresh()
        setup["refresh_s"] = time.perf_counter() - started
        engine = Engine(ws)
        t0 = datetime.now(UTC)
        started = time.perf_counter()
        first = engine.tick(t0)
        setup["tick1_s"] = time.perf_counter() - started
        log(f"tick 1: {first.enrolled:,} enrolled, {first.queued:,} queued in {setup['tick1_s']:.2f} s")
        sample = ws.store.query(f"SELECT message_id, recipient FROM nurture_outbox USING SAMPLE {OPEN_SHARE * 100:g}% (bernoulli, 7)")
        ws.import_events(_opens_file(home.parent / "opens.parquet", sample, t0 + timedelta(hours=5)))
        ws.refresh()
        before = ws.store.query("SELECT count(*) AS n FROM nurture_outbox")[0]["n"]
        active = ws.store.query("SELECT count(*) AS n FROM nurture_enrolments WHERE status = 'active'")[0]["n"]
        started = time.perf_counter()
        second = engine.tick(t0 + timedelta(days=4))
        tick_s = time.perf_counter() - started
        log(f"tick 2: {active:,} active, {second.steps:,} steps, {second.queued:,} queued in {tick_s:.2f} s ({second.rounds} rounds)")
        # reference: a plain INSERT of the same outbox rows into a table of the same schema
        ws.store.execute("CREATE OR REPLACE TABLE bench_outbox AS SELECT * FROM nurture_outbox LIMIT 0")
        ws.store.execute("ALTER TABLE bench_outbox ADD PRIMARY KEY (message_id)")
        started = time.perf_counter()
        with ws.store.transaction():
            ws.store.execute(f"INSERT INTO bench_outbox SELECT * FROM nurture_outbox WHERE created_at = TIMESTAMPTZ '{second.now.isoformat()}'")
        ref_s = time.perf_counter() - started
        copied = ws.store.query("SELECT count(*) AS n FROM bench_outbox")[0]["n"]
        ws.store.execute("DROP TABLE bench_outbox")
        assert copied == second.queued and ws.store.query("SELECT count(*) AS n FROM nurture_outbox")[0]["n"] == before + second.queued
    setup.update(opened=len(sample), active=active, queued=second.queued, steps=second.steps)
    row = {
        "benchmark": f"nurture tick over {active:,} active enrolments (wait, branch on opens, {second.queued:,} outbox rows)",
        "target": f"< {TICK_TARGET_S:.0f} s",
        "measured": f"{tick_s:.2f} s",
        "reference": f"plain DuckDB INSERT of the same {copied:,} outbox rows: {ref_s:.2f} s",
        "ratio": f"{tick_s / ref_s:.1f}×",
        "verdict": "PASS" if tick_s < TICK_TARGET_S else "MISS",
        "seconds": tick_s,
    }
    return row, setup


def bench_delivery(home: Path, m: int) -> dict[str, Any]:
    """Deliver m queued e-mails to aiosmtpd in its own process; reference: raw smtplib sends of the same bytes."""
    from polku import Workspace
    from polku.nurture import message
    from polku.nurture.delivery import Deliverer
    from polku.nurture.settings import SmtpSettings
    from polku.store import nurture as sql

    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port), "900"], stdout=subprocess.PIPE)
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
        with Workspace(home) as ws:
            deliverer = Deliverer(ws, settings=SmtpSettings(host="127.0.0.1", port=port, security="none", connections=CONNECTIONS))
            result = deliverer.deliver(limit=m)
            deliverer.close()
            rate = result.sent / result.seconds
            log(f"delivery: {result.sent:,} sent in {result.seconds:.2f} s ({rate:,.0f}/s), {result.failed} failed")
            rows = ws.store.query("SELECT * FROM nurture_outbox WHERE status = 'sent' ORDER BY sent_at LIMIT ?", [m])
            secret = ws.store.meta("nurture_secret") or ""
            versions = {v: json.loads(d) for v, d in sql.content_versions(ws.store, {r["content_version"] for r in rows}).items()}
            built = [message.build(r, versions[r["content_version"]], secret) for r in rows]
        ref_rate = _raw_smtp(port, built)
        log(f"reference: raw smtplib {ref_rate:,.0f}/s")
    finally:
        sink.kill()
        sink.communicate(timeout=30)
    return {
        "benchmark": f"nurture delivery of {result.sent:,} e-mails to loopback aiosmtpd (two-phase SMTP, {CONNECTIONS} connections)",
        "target": f"≥ {RATE_TARGET:.0f} messages/s",
        "measured": f"{rate:,.0f} messages/s",
        "reference": f"raw smtplib sendmail of the same bytes, {CONNECTIONS} connections: {ref_rate:,.0f}/s",
        "ratio": f"{rate / ref_rate:.2f}×",
        "verdict": "PASS" if rate >= RATE_TARGET and result.failed == 0 else "MISS",
        "rate": rate,
    }


def _raw_smtp(port: int, built: list[Any]) -> float:
    """Messages per second of plain smtplib sendmail over CONNECTIONS connections (threads)."""
    conns = []
    for _ in range(CONNECTIONS):
        conn = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.local")
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(conn)
    shares = [built[k::CONNECTIONS] for k in range(CONNECTIONS)]

    def send(k: int) -> None:
        for out in shares[k]:
            conns[k].sendmail(out.sender, [out.recipient], out.data)

    started = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(send, range(CONNECTIONS)))
    seconds = time.perf_counter() - started
    for conn in conns:
        conn.quit()
    return len(built) / seconds


def run(quick: bool) -> list[dict[str, Any]]:
    """Both benchmarks in a temporary workspace (deleted afterwards); one row each."""
    n, m = (QUICK_CONTACTS, QUICK_MESSAGES) if quick else (FULL_CONTACTS, FULL_MESSAGES)
    folder = Path(tempfile.mkdtemp(prefix="polku-bench-nurture-"))
    try:
        tick_row, setup = bench_tick(folder / "ws", n)
        log(f"set-up: import {setup['import_s']:.1f} s, refresh {setup['refresh_s']:.1f} s, tick 1 {setup['tick1_s']:.2f} s")
        tick_row["setup"] = setup
        return [tick_row, bench_delivery(folder / "ws", m)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = ["| benchmark | target | measured | reference | ratio | verdict |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['benchmark']} | {r['target']} | {r['measured']} | {r['reference']} | {r['ratio']} | {r['verdict']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CONTACTS:,} contacts instead of {FULL_CONTACTS:,}")
    rows = run(parser.parse_args(argv).quick)
    print(markdown(rows))
    setup = rows[0]["setup"]
    print(f"\nSet-up (not timed as the tick): import {setup['import_s']:.1f} s, refresh {setup['refresh_s']:.1f} s, "
          f"tick 1 (enrol and queue the first e-mail) {setup['tick1_s']:.2f} s; {setup['opened']:,} first e-mails opened.")
    print("Mautic for orientation (other machines): campaigns:trigger ~21 events/s (mautic/mautic#5423); "
          "SMTP sending 2-5/s by default, 667/s tuned (mautomic.com blog).")
    return 0 if all(r["verdict"] == "PASS" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
