"""The single writer: group commit, combined appends, a bad job fails alone, order is kept."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from polku import InvalidInput, Workspace
from polku.store.writer import Writer


def test_concurrent_batches_are_combined_and_each_caller_gets_its_own_result(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as ws:
        writer = Writer(ws.store)
        calls: list[int] = []

        def combine(batches: list[Any]) -> list[Any]:
            calls.append(len(batches))
            return ws.store_batches(batches, "test")

        results: dict[int, Any] = {}

        def send(k: int) -> None:
            items = [{"event_id": f"t{k}-{i}", "type": "page_view", "channel": "web", "anonymous_id": f"d{k}"}
                     for i in range(50)] + [{"event_id": f"t{k}-0", "type": "page_view", "channel": "web",
                                              "anonymous_id": f"d{k}"}]
            results[k] = writer.submit_combined(ws.prepare_batch(items), combine)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        writer.close()
        assert sorted(results) == list(range(12))
        for k, r in results.items():
            assert len(r.accepted) == 50 and r.duplicates == [{"index": 50, "event_id": f"t{k}-0"}]
        assert sum(calls) == 12
        assert ws.store.query("SELECT count(*) AS n FROM events")[0]["n"] == 600


def test_a_failing_job_fails_alone_and_order_is_kept(tmp_path: Path) -> None:
    with Workspace(tmp_path / "ws") as ws:
        gate = threading.Event()
        order: list[str] = []
        writer = Writer(ws.store)
        writer_started = threading.Thread(target=lambda: writer.submit(lambda: gate.wait(5), group=False))
        writer_started.start()  # hold the writer so the next jobs queue up together

        def good() -> str:
            order.append("good")
            return ws.track("page_view", "web", anonymous_id="d1")

        def bad() -> None:
            order.append("bad")
            raise InvalidInput("boom")

        def alone() -> str:
            order.append("alone")
            return "done"

        outcomes: dict[str, Any] = {}

        def run(name: str, job: Any, group: bool = True) -> None:
            try:
                outcomes[name] = writer.submit(job, group=group)
            except InvalidInput as exc:
                outcomes[name] = exc

        threads = [threading.Thread(target=run, args=("good", good)), threading.Thread(target=run, args=("bad", bad))]
        for t in threads:
            t.start()
        threading.Event().wait(0.2)
        last = threading.Thread(target=run, args=("alone", alone, False))
        last.start()
        threading.Event().wait(0.2)
        gate.set()
        for t in [*threads, last, writer_started]:
            t.join(timeout=10)
        writer.close()
        assert isinstance(outcomes["bad"], InvalidInput)
        assert isinstance(outcomes["good"], str) and outcomes["alone"] == "done"
        assert order[-1] == "alone"  # the ungrouped job ran after the group queued before it
        assert ws.store.query("SELECT count(*) AS n FROM events")[0]["n"] == 1
        with pytest.raises(InvalidInput):
            raise outcomes["bad"]
