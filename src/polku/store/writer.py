"""One writer thread per workspace: the server funnels every write through it.

Jobs queued while a commit is running are committed together (group commit), so a
busy server makes few, larger commits; a caller is answered only after its commit.
When the workspace has been quiet for a while, the writer refreshes derived tables.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from polku.store.duck import DuckStore

T = TypeVar("T")
_STOP = object()
MAX_GROUP = 64


class Writer:
    """Runs write jobs one group at a time in a single thread."""

    def __init__(self, store: DuckStore, *, idle_job: Callable[[], Any] | None = None, idle_seconds: float = 2.0) -> None:
        self._store = store
        self._queue: queue.Queue[Any] = queue.Queue()
        self._idle_job = idle_job
        self._idle_seconds = idle_seconds
        self._thread = threading.Thread(target=self._run, name="polku-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], T], *, group: bool = True) -> T:
        """Run ``job`` in the writer thread and wait for its committed result.

        Grouped jobs share one transaction with their neighbours; ``group=False`` runs
        the job alone and outside any transaction (it manages its own).
        """
        fut: Future[T] = Future()
        self._queue.put((job, fut, group))
        return fut.result()

    def close(self) -> None:
        """Finish queued jobs and stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                self._idle()
                continue
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < MAX_GROUP and item[2]:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or not nxt[2]:
                    self._queue.put(nxt)
                    break
                batch.append(nxt)
            self._run_group(batch)

    def _run_group(self, batch: list[Any]) -> None:
        if len(batch) > 1:
            results: list[Any] = []
            try:
                with self._store.transaction():
                    results = [job() for job, _, _ in batch]
            except Exception:  # noqa: BLE001 - one bad job must not fail its neighbours
                pass
            else:
                for (_, fut, _), res in zip(batch, results, strict=True):
                    fut.set_result(res)
                return
        for job, fut, grouped in batch:
            try:
                if grouped:
                    with self._store.transaction():
                        res = job()
                else:
                    res = job()  # manages its own transactions
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                fut.set_exception(exc)
            else:
                fut.set_result(res)

    def _idle(self) -> None:
        if self._idle_job is None:
            return
        started = time.monotonic()
        try:
            self._idle_job()
        except Exception:  # noqa: BLE001 - a failed background refresh is retried next time
            import logging

            logging.getLogger("polku").exception("background refresh failed after %.1fs", time.monotonic() - started)
