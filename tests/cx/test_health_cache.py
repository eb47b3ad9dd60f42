"""The kept health view: reused while the data and cx.yaml stay the same, recomputed when either changes
or it gets old, computed once for concurrent callers, and never used when a time is asked for."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from polku import Workspace
from polku.cx import measure_ops
from polku.cx.config import CX_FILE
from polku.cx.measure_ops import HealthView, clear_health_cache, health, health_view
from polku.model import utcnow

NOW = utcnow()


def _fill(ws: Workspace) -> None:
    """Anna (executive) and Olli (operational) at Acme, with three answers and a visit."""
    ws.identify(email="anna@acme.fi", account_id="acme", traits={"name": "Anna", "role": "decision_maker",
                "org_level": "executive"}, account={"name": "Acme", "domain": "acme.fi", "owner": "o@polku.example"})
    ws.identify(email="olli@acme.fi", account_id="acme", traits={"name": "Olli", "org_level": "operational"})
    for i, (email, score) in enumerate([("anna@acme.fi", 9), ("anna@acme.fi", 10), ("olli@acme.fi", 2)]):
        ws.track("survey_answered", "email", email=email, ts=(NOW - timedelta(days=3 + i)).isoformat(),
                 properties={"survey": "nps", "score": score})
    ws.track("page_view", "web", email="olli@acme.fi", ts=(NOW - timedelta(days=1)).isoformat())


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with Workspace(tmp_path / "ws") as w:
        _fill(w)
        yield w


def _nps_answers(view: HealthView) -> int:
    return next(c.n for c in view.now["acme"].components if c.name == "nps")


def test_the_view_is_kept_until_the_data_changes(ws: Workspace) -> None:
    first = health_view(ws)
    assert health_view(ws) is first
    assert health(ws, "acme.fi")["as_of"] == first.as_of  # the account card reads the kept view
    assert _nps_answers(first) == 3
    ws.track("survey_answered", "email", email="olli@acme.fi", ts=(NOW - timedelta(hours=2)).isoformat(),
             properties={"survey": "nps", "score": 3})
    second = health_view(ws)
    assert second is not first and _nps_answers(second) == 4
    assert health_view(ws) is second


def test_a_changed_cx_yaml_is_read_at_once(ws: Workspace) -> None:
    first = health_view(ws)
    path = ws.home / CX_FILE
    path.write_text("health:\n  at_risk_below: 80\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # a different modification time whatever the clock
    second = health_view(ws)
    assert second is not first and second.config.health.at_risk_below == 80
    assert health_view(ws) is second


def test_as_of_passes_the_cache_by_and_leaves_it_alone(ws: Workspace) -> None:
    kept = health_view(ws)
    earlier = health_view(ws, as_of=NOW - timedelta(days=4))
    assert earlier is not kept and earlier.as_of == NOW - timedelta(days=4)
    assert _nps_answers(earlier) == 1  # only the answer from five days ago
    assert health_view(ws) is kept


def test_an_old_view_is_recomputed(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    first = health_view(ws)
    monkeypatch.setattr(measure_ops, "HEALTH_CACHE_SECONDS", 0.0)
    second = health_view(ws)
    assert second is not first and second.as_of >= first.as_of
    monkeypatch.undo()
    assert health_view(ws) is second
    clear_health_cache()
    assert health_view(ws) is not second


def test_each_workspace_keeps_its_own_view(ws: Workspace, tmp_path: Path) -> None:
    with Workspace(tmp_path / "other") as other:
        other.identify(email="eve@beta.fi", account_id="beta", account={"name": "Beta"})
        other.track("survey_answered", "email", email="eve@beta.fi", ts=(NOW - timedelta(days=1)).isoformat(),
                    properties={"survey": "nps", "score": 7})
        mine, theirs = health_view(ws), health_view(other)
        assert set(mine.now) == {"acme"} and set(theirs.now) == {"beta"}
        assert health_view(ws) is mine and health_view(other) is theirs


def test_concurrent_callers_share_one_computation(ws: Workspace) -> None:
    clear_health_cache()
    views: list[HealthView] = []
    threads = [threading.Thread(target=lambda: views.append(health_view(ws))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(views) == 4 and all(v is views[0] for v in views)
