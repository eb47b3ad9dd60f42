"""Running nurture on a clock: tick and deliver every interval, in the CLI or inside the server.

``polku nurture run`` owns the workspace and runs a ``Scheduler`` in the foreground.
While ``polku serve`` holds the workspace, ``polku serve --nurture`` runs the same loop in
a background thread of the server, every write going through the server's writer thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from polku.errors import PolkuError
from polku.nurture.channels import Channel
from polku.nurture.delivery import Deliverer
from polku.nurture.engine import Engine, Runner, ScoreSource, run_direct
from polku.nurture.scores import default_scores
from polku.nurture.settings import SmtpSettings

if TYPE_CHECKING:
    from polku.store.writer import Writer
    from polku.workspace import Workspace

log = logging.getLogger("polku.nurture")


class Scheduler:
    """Ticks and delivers; one round at a time, however many threads ask."""

    def __init__(
        self, ws: Workspace, *, run: Runner[Any] = run_direct, interval: float = 60.0, deliver: bool = True,
        settings: SmtpSettings | None = None, scores: ScoreSource | None = default_scores,
        channels: dict[str, Channel] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.ws = ws
        self.interval = interval
        self.deliver_after = deliver
        self.engine = Engine(ws, run=run, scores=scores)
        self.deliverer = Deliverer(ws, run=run, settings=settings, channels=channels)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: dict[str, Any] | None = None

    def once(self, now: datetime | None = None, *, deliver: bool | None = None) -> dict[str, Any]:
        """One tick, then delivery of what is due (unless told not to)."""
        out: dict[str, Any] = {"tick": self.engine.tick(now).as_dict()}
        if self.deliver_after if deliver is None else deliver:
            out["delivery"] = self.deliverer.deliver(stop=self._stop).as_dict()
        self.last = out
        return out

    def loop(self, *, max_ticks: int | None = None, on_round: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Run rounds every ``interval`` seconds until stopped; a failing round is logged and retried."""
        rounds = 0
        while not self._stop.is_set() and (max_ticks is None or rounds < max_ticks):
            started = time.monotonic()
            try:
                result = self.once()
            except PolkuError as exc:
                log.error("nurture round failed: %s", exc.message)
                result = {"error": exc.message}
            except Exception:  # noqa: BLE001 - the loop must outlive one bad round; the error is logged
                log.exception("nurture round failed")
                result = {"error": "unexpected error (see the log)"}
            rounds += 1
            if on_round is not None:
                on_round(result)
            if max_ticks is not None and rounds >= max_ticks:
                break
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        return rounds

    def start(self) -> None:
        """Run the loop in a background thread."""
        self._thread = threading.Thread(target=self.loop, name="polku-nurture", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to stop after the current batch (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to stop after the current batch, wait for it, and close the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.deliverer.close()


def writer_runner(writer: Writer) -> Runner[Any]:
    """A runner that performs each unit of work in the server's writer thread (alone, in its own transactions)."""

    def run(job: Callable[[], Any]) -> Any:
        return writer.submit(job, group=False)

    return run


def start_in_server(ws: Workspace, writer: Writer, *, interval: float = 30.0) -> Scheduler:
    """Start the nurture loop inside `polku serve` (``create_app(..., nurture=True)``)."""
    scheduler = Scheduler(ws, run=writer_runner(writer), interval=interval)
    scheduler.start()
    return scheduler
