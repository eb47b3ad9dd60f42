"""Kill `polku nurture tick` with SIGKILL in the middle of delivering thousands of messages, restart
(a new process runs the same round), and check at the SMTP server that every message arrived exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from polku import Workspace
from polku.nurture.delivery import Deliverer
from polku.nurture.ops import resolve_message
from polku.nurture.scheduler import Scheduler
from polku.nurture.settings import SmtpSettings

CONTACTS = 2000
KILL_AFTER = 300  # messages received before the kill
_KEY = re.compile(r"<(.+)\.[0-9a-f]{8}@acme\.example>")


def contacts_file(folder: Path) -> Path:
    """Identify calls of the contacts as a Parquet file (the fast, vectorised import path)."""
    now = datetime.now(UTC)
    path = folder / "people.parquet"
    pq.write_table(pa.table({
        "event_id": [f"id-{i}" for i in range(CONTACTS)], "ts": [now] * CONTACTS, "type": ["identify"] * CONTACTS,
        "channel": ["web"] * CONTACTS, "email": [f"p{i}@acme.example" for i in range(CONTACTS)],
        "properties": [json.dumps({"name": f"P{i}"}) for i in range(CONTACTS)],
    }), path)
    return path


def tick(home: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "POLKU_SMTP_HOST": "127.0.0.1", "POLKU_SMTP_PORT": str(port), "POLKU_SMTP_SECURITY": "none",
           "POLKU_SMTP_CONNECTIONS": "16"}
    return subprocess.Popen(
        [sys.executable, "-c", "from polku.cli import app; app()", "--home", home, "nurture", "tick"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def received(smtp) -> Counter[str]:  # type: ignore[no-untyped-def]
    keys = []
    for mid in smtp.ids():
        match = _KEY.fullmatch(mid)
        assert match, mid
        keys.append(match.group(1))
    return Counter(keys)


def test_a_killed_tick_neither_repeats_nor_loses_a_message(home, smtp_process, tmp_path) -> None:
    smtp = smtp_process
    home.policy(sender={"from": "news@acme.example"})
    home.journey("blast", trigger={"segment": {"trait": "name", "present": True}}, steps=[{"id": "intro", "send": "hello"}])
    with Workspace(home.path) as ws:
        ws.import_events(contacts_file(tmp_path))
        ws.refresh()

    proc = tick(str(home.path), smtp.port)
    deadline = time.monotonic() + 90
    while smtp.count() < KILL_AFTER and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        _, err = proc.communicate()
        raise AssertionError("the tick ended before it could be killed: " + err.decode()[-2000:])
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    at_kill = smtp.count()
    assert KILL_AFTER <= at_kill < CONTACTS

    # the restart: a new process (this one) runs the same round the CLI runs
    settings = SmtpSettings(host="127.0.0.1", port=smtp.port, security="none")
    with Workspace(home.path) as ws:
        restart = Scheduler(ws, settings=settings)
        round_ = restart.once()
        restart.deliverer.close()
        assert round_["tick"]["queued"] == 0  # the killed tick had queued every message once
        assert sum(round_["delivery"]["recovered"].values()) > 0
        status = {r["message_id"]: r["status"] for r in ws.store.query("SELECT message_id, status FROM nurture_outbox")}
        assert len(status) == CONTACTS  # the crash did not make or lose a step's message
        counts = received(smtp)
        assert max(counts.values()) == 1, "a message arrived twice"
        doubtful = [k for k, s in status.items() if s == "in_doubt"]
        assert len(doubtful) <= 16  # at most one batch per lane (a message per connection) is ever in doubt
        assert {k for k, s in status.items() if s == "sent"} == set(counts) - set(doubtful)
        for key in doubtful:  # an operator checks the relay: it arrived, or it did not and is sent again
            resolve_message(ws, key, "sent" if key in counts else "resend", "checked the receiver")
        deliverer = Deliverer(ws, settings=settings)
        deliverer.deliver()
        deliverer.close()
        counts = received(smtp)
        assert len(counts) == CONTACTS and set(counts.values()) == {1}, "every message exactly once"
        assert ws.store.query("SELECT count(*) AS n FROM nurture_outbox WHERE status = 'sent'")[0]["n"] == CONTACTS
        assert ws.store.query("SELECT count(DISTINCT event_id) AS n FROM events WHERE type = 'email_sent'")[0]["n"] == CONTACTS
