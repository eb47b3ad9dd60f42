"""What the browser tests share: `polku serve` in a child process on loopback, and where screenshots go."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"  # screenshots for a person to look at


def screenshots() -> Path:
    """The screenshot folder ($POLKU_SCREENSHOTS or test-output/screenshots), kept out of git."""
    shots = Path(os.environ.get("POLKU_SCREENSHOTS") or OUTPUT / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    if shots.is_relative_to(OUTPUT):
        (OUTPUT / ".gitignore").write_text("*\n")  # test output stays out of git without touching the root .gitignore
    return shots


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def polku_server(home: Path) -> Iterator[str]:
    """Run `polku serve` on the workspace at a free loopback port until the block ends; yields its base URL."""
    port = free_port()
    log = home.parent / "server.log"
    exe = Path(sys.executable).with_name("polku")
    with log.open("wb") as out:
        server = subprocess.Popen([str(exe), "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # importing the analytics stack takes a while on a busy machine
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the server did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
