"""A loopback SMTP server in its own process (so it does not share a GIL with the code under test).

    python sink.py PORT LOGFILE [MAX_SECONDS]

Appends each received message's Message-ID to LOGFILE (one a line), prints "ready", and
stops by itself after MAX_SECONDS (default 300).
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from aiosmtpd.controller import Controller

_MID = re.compile(rb"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


class Sink:
    """Write every Message-ID to the log, flushed at once."""

    def __init__(self, path: str) -> None:
        self.log = open(path, "ab", buffering=0)  # noqa: SIM115 - open for the life of the process

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        match = _MID.search(envelope.content)
        self.log.write((match.group(1) if match else b"<none>") + b"\n")
        return "250 OK"


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    time.sleep(lifetime)
    controller.stop()


if __name__ == "__main__":
    main()
