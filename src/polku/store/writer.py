"""One writer thread per workspace: the server funnels every write through it.

Jobs queued while a commit is running are committed together (group commit), so a
busy server makes few, larger commits; a caller is answered only after its commit.
When the workspace has been quiet for a while, the writer refreshes derived tables.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from polku.store.duck import DuckStore

T = TypeVar("T")
log = logging.getLogger("polku")
MAX_GROUP = 64

Combine = Callable[[list[Any]], list[Any]]


@dataclass
class _Job:
    fut: Future[Any]
    run: Callable[[], Any] | None = None
    group: bool = True
    payload: Any = None
    combine: Combine | None = None  # runs the payloads of several jobs in one call

    def alone(self) -> Any:
        return self.combine([self.payload])[0] if self.combine else self.run()  # type: ignore[misc]


_STOP = _Job(Future(), group=False)


class Writer:
    """Runs write jobs one group at a time in a single thread."""

    def __init__(self, store: DuckStore, *, idle_job: Callable[[], Any] | None = None, idle_seconds: float = 2.0) -> None:
        self._store = store
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._pending: _Job | None = None
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
        self._queue.put(_Job(fut, run=job, group=group))
        return fut.result()

    def submit_combined(self, payload: Any, combine: Combine) -> Any:
        """Like submit, but payloads queued together go to one ``combine`` call (one statement set)."""
        fut: Future[Any] = Future()
        self._queue.put(_Job(fut, payload=payload, combine=combine))
        return fut.result()

    def close(self) -> None:
        """Finish queued jobs and stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _next(self, timeout: float | None) -> _Job:
        if self._pending is not None:
            job, self._pending = self._pending, None
            return job
        return self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()

    def _run(self) -> None:
        while True:
            try:
                job = self._next(self._idle_seconds)
            except queue.Empty:
                self._idle()
                continue
            if job is _STOP:
                return
            group = [job]
            while job.group and len(group) < MAX_GROUP:
                try:
                    nxt = self._next(None)
                except queue.Empty:
                    break
                if not nxt.group:
                    self._pending = nxt  # runs next, in its turn
                    break
                group.append(nxt)
            self._run_group(group)

    def _run_group(self, group: list[_Job]) -> None:
        if len(group) > 1:
            try:
                with self._store.transaction():
                    results = self._execute(group)
            except Exception:  # noqa: BLE001 - one bad job must not fail its neighbours: retry alone
                pass
            else:
                for job, res in zip(group, results, strict=True):
                    job.fut.set_result(res)
                return
        for job in group:
            try:
                if job.group:
                    with self._store.transaction():
                        res = job.alone()
                else:
                    res = job.alone()  # manages its own transactions
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                job.fut.set_exception(exc)
            else:
                job.fut.set_result(res)

    @staticmethod
    def _execute(group: list[_Job]) -> list[Any]:
        results: list[Any] = [None] * len(group)
        combined: dict[Combine, list[int]] = {}
        for i, job in enumerate(group):
            if job.combine is not None:
                combined.setdefault(job.combine, []).append(i)
            else:
                results[i] = job.alone()
        for combine, idx in combined.items():
            for i, res in zip(idx, combine([group[i].payload for i in idx]), strict=True):
                results[i] = res
        return results

    def _idle(self) -> None:
        if self._idle_job is None:
            return
        started = time.monotonic()
        try:
            self._idle_job()
        except Exception:  # noqa: BLE001 - a failed background refresh is retried next time
            log.exception("background refresh failed after %.1fs", time.monotonic() - started)
