"""Fixtures for nurture tests: workspace folders with journeys and content, and a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

CONTENT = """templates:
  - id: hello
    language: en
    topic: automation
    subject: "Hello {{ contact.name | default('there') }}"
    text: |
      Hi {{ contact.name | default('there') }},
      read our guide: {{ link('https://example.com/guide') }}
  - id: hello
    language: fi
    subject: "Hei {{ contact.name | default('') }}"
    text: |
      Hei, lue opas: {{ link('https://example.com/opas') }}
  - id: owner-note
    subject: "{{ contact.email }} is hot"
    text: |
      {{ contact.email }} at {{ account.name | default('an unknown account') }} clicked.
"""


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Home:
    """A workspace folder being set up: journeys, content and policy files."""

    path: Path

    def write(self, rel: str, text: str) -> Path:
        """Write a file under the workspace."""
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def journey(self, journey_id: str, **fields: Any) -> Path:
        """Write journeys/<id>.yaml from keyword fields (YAML-dumped)."""
        return self.write(f"journeys/{journey_id}.yaml", yaml.safe_dump(fields, sort_keys=False))

    def content(self, text: str = CONTENT) -> Path:
        """Write the content library."""
        return self.write("content/library.yaml", text)

    def policy(self, **fields: Any) -> Path:
        """Write nurture.yaml."""
        return self.write("nurture.yaml", yaml.safe_dump(fields, sort_keys=False))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """An empty workspace folder with the standard content library."""
    h = Home(tmp_path / "ws")
    h.path.mkdir()
    h.content()
    return h


@dataclass
class Mailbox:
    """What the loopback SMTP server received; ``refuse`` maps a recipient to a reply code."""

    raw: list[bytes] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.raw.append(bytes(envelope.content))
        if self.delay:
            time.sleep(self.delay)  # holds the reply past the client's timeout (the message is already taken)
        return "250 OK"

    @property
    def messages(self) -> list[Message]:
        """The received messages, parsed."""
        with self.lock:
            return [email.message_from_bytes(r, policy=email.policy.default) for r in self.raw]

    def ids(self) -> list[str]:
        """Message-ID headers of everything received (repeats included)."""
        return [str(m["Message-ID"]) for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 at a free port."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def people(n: int, *, prefix: str = "p", **traits: Any) -> list[dict[str, Any]]:
    """Identify calls of n contacts with the given traits (a name each)."""
    return [{"email": f"{prefix}{i}@acme.example", "traits": {"name": f"Person {i}", **traits}} for i in range(n)]


@pytest.fixture
def identify() -> Callable[..., None]:
    """Store identify calls in a workspace (raises on a rejected one)."""

    def run(ws: Any, calls: list[dict[str, Any]]) -> None:
        for start in range(0, len(calls), 5000):
            result = ws.ingest(calls[start:start + 5000], "test", identify=True)
            assert not result.rejected, result.rejected

    return run


@dataclass
class SinkProcess:
    """A loopback SMTP server in a child process; ``ids()`` reads the Message-IDs it received."""

    port: int
    log: Path

    def ids(self) -> list[str]:
        """Message-IDs received so far (repeats included)."""
        return [line for line in self.log.read_text().splitlines() if line]

    def count(self) -> int:
        """How many messages arrived so far."""
        return self.log.read_bytes().count(b"\n") if self.log.exists() else 0


@pytest.fixture
def smtp_process(tmp_path: Path) -> Iterator[SinkProcess]:
    """A real SMTP server in its own process on 127.0.0.1; it stops by itself after 300 s at the latest."""
    sink = SinkProcess(free_port(), tmp_path / "received.log")
    sink.log.touch()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("sink.py")), str(sink.port), str(sink.log), "300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield sink
    finally:
        proc.kill()
        proc.communicate(timeout=30)
