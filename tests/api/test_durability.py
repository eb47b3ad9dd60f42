"""Every event the API acknowledged survives a SIGKILL of the server (real process, loopback only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from polku import Workspace

BATCH = 200
MAX_BATCHES = 150  # the load is bounded in count...
MAX_SECONDS = 20.0  # ...and in time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    polku = Path(sys.executable).with_name("polku")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(polku), "--home", str(home), "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120  # a busy machine starts the server slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


@pytest.mark.slow
def test_acknowledged_events_survive_sigkill(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with Workspace(home) as ws:
        token = ws.create_key("write")
    port = free_port()
    server = start_server(home, port, tmp_path / "server.log")
    acked: set[str] = set()
    lock = threading.Lock()
    started = time.monotonic()

    def load(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10) as c:
            for b in range(MAX_BATCHES // 3):
                if time.monotonic() - started > MAX_SECONDS:
                    return
                ids = [f"w{worker}-b{b}-{i}" for i in range(BATCH)]
                events = [{"event_id": e, "type": "page_view", "channel": "web", "anonymous_id": f"d{worker}"} for e in ids]
                try:
                    r = c.post("/v1/events", json={"events": events})
                except httpx.TransportError:
                    return  # the server is gone
                if r.status_code == 200:
                    with lock:
                        acked.update(item["event_id"] for item in r.json()["items"]["accepted"])

    threads = [threading.Thread(target=load, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    while len(acked) < 20 * BATCH and time.monotonic() - started < MAX_SECONDS:
        time.sleep(0.02)
    os.kill(server.pid, signal.SIGKILL)  # in the middle of the load
    server.wait(timeout=10)
    for t in threads:
        t.join(timeout=15)
    assert len(acked) >= 20 * BATCH, "the load did not get going"

    with Workspace(home) as ws:  # restart: open the file the dead server held
        stored = {r["event_id"] for r in ws.store.query("SELECT event_id FROM events")}
    assert acked <= stored
    assert len(stored) == len({*stored})
