"""What the CX pages read, through the functions behind the ``/v1/cx`` routes, with short-lived caches.

Survey answers (``answers_of``) are read once per state of the data and shared by the pages;
the account health view (``measure_ops.health_view``: every account, now and ``drop_days``
earlier) is computed at most once every ``HEALTH_TTL`` seconds per as-of time and cx.yaml,
because it compares each account with all the others and costs seconds on a large workspace.
Everything else is composed exactly as ``polku.cx.measure_ops`` composes it for the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from polku.cx.config import CX_FILE, CxConfig, load_config

if TYPE_CHECKING:
    import pandas as pd

    from polku.cx.measure_ops import HealthView
    from polku.workspace import Workspace

T = TypeVar("T")
ANSWER_EVENT: Final = "survey_answered"
HEALTH_TTL: Final = 120.0  # seconds a computed health view is reused (it shows its as-of time)
ANSWERS_TTL: Final = 3600.0  # answers are keyed by the data's state; this only bounds memory use
MAX_ENTRIES: Final = 8


class TtlCache:
    """A small cache of computed values by key, each kept ``ttl`` seconds; one computation per key at a time."""

    def __init__(self, ttl: float, size: int = MAX_ENTRIES) -> None:
        self.ttl, self.size = ttl, size
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key``, computed by ``compute()`` when missing or expired."""
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]  # type: ignore[no-any-return]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # others asking for the same key wait for this computation instead of repeating it
            with self._lock:
                hit = self._values.get(key)
                if hit is not None and hit[0] > time.monotonic():
                    return hit[1]  # type: ignore[no-any-return]
            value = compute()
            with self._lock:
                self._values[key] = (time.monotonic() + self.ttl, value)
                while len(self._values) > self.size:
                    oldest = min(self._values, key=lambda k: self._values[k][0])
                    del self._values[oldest]
                    self._locks.pop(oldest, None)
        return value

    def clear(self) -> None:
        """Forget every value (tests, and after a change the pages must show at once)."""
        with self._lock:
            self._values.clear()


_answers = TtlCache(ANSWERS_TTL)
_health = TtlCache(HEALTH_TTL)


def _where(ws: Workspace) -> tuple[str, int]:
    """Which workspace a cache entry belongs to (its folder and the open object)."""
    return (str(ws.home), id(ws))


def table_exists(ws: Workspace, table: str) -> bool:
    """Whether the workspace's database has this table."""
    rows = ws.store.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ?", [table])
    return bool(rows[0]["n"])


def has_answers(ws: Workspace) -> bool:
    """Whether any survey answer (a ``survey_answered`` touchpoint) is stored."""
    return table_exists(ws, "events") and bool(
        ws.store.query(f"SELECT 1 AS x FROM events WHERE type = '{ANSWER_EVENT}' LIMIT 1"))


def config_signature(ws: Workspace) -> tuple[int, int] | None:
    """cx.yaml's modification time and size (None without the file): a changed file is a new key."""
    try:
        st = (ws.home / CX_FILE).stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def has_config(ws: Workspace) -> bool:
    """Whether the workspace has a cx.yaml."""
    return config_signature(ws) is not None


def config(ws: Workspace) -> CxConfig:
    """The workspace's cx.yaml (defaults without one); a broken file raises ConfigError naming file:line."""
    return load_config(ws.home)


def data_state(ws: Workspace) -> str | None:
    """A token that changes whenever the derived tables are rebuilt with new data."""
    return ws.store.meta("refreshed")


def answers(ws: Workspace) -> pd.DataFrame:
    """Every survey answer row (``polku.cx.answers.answers_of``, what ``GET /v1/cx/scores`` reads)."""
    from polku.cx.answers import answers_of

    return _answers.get((_where(ws), data_state(ws)), lambda: answers_of(ws.tables()))


def scores(ws: Workspace, cfg: CxConfig, by: str | None = None, end: datetime | None = None) -> dict[str, Any]:
    """NPS, CSAT and CES with intervals, overall or per group, of answers before ``end``: ``GET /v1/cx/scores``
    (composed as ``measure_ops.scores`` composes it, over the shared answers)."""
    from polku.cx.measure_ops import GROUPINGS
    from polku.cx.measures import summarise
    from polku.errors import InvalidInput

    if by is not None and by not in GROUPINGS:
        raise InvalidInput(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    rows_in = answers(ws)
    if end is not None:
        rows_in = rows_in[rows_in["ts"] < end]
    rows = summarise(rows_in, cfg.measure_defs(), by=by, confidence=cfg.confidence, min_n=cfg.min_n)
    return {"by": by, "to": end, "answers": int(rows_in["event_id"].nunique()), "min_n": cfg.min_n,
            "confidence": cfg.confidence, "rows": rows}


def targets(ws: Workspace, cfg: CxConfig, as_of: datetime | None = None) -> dict[str, Any]:
    """Every target experience measured: ``GET /v1/cx/targets`` (composed as ``measure_ops.targets``)."""
    from polku.cx.targets import evaluate_targets, touchpoint_types, trigger_touches
    from polku.model import utcnow

    when = as_of or utcnow()
    triggers = trigger_touches(ws.tables().touchpoints, touchpoint_types(cfg), when)
    return {"as_of": when, "file": CX_FILE if has_config(ws) else None,
            "targets": evaluate_targets(cfg, answers(ws), triggers, as_of=when)}


def health_view(ws: Workspace, as_of: datetime | None = None) -> HealthView:
    """Every account's health now (or as of a time) and before, with the networks (``measure_ops.health_view``)."""
    from polku.cx.measure_ops import health_view as compute

    return _health.get((_where(ws), config_signature(ws), as_of), lambda: compute(ws, as_of=as_of))


# ---- feedback text --------------------------------------------------------------------------------
FEEDBACK_TTL: Final = 600.0  # seconds a feedback analysis is reused (embedding texts takes a while)
_feedback = TtlCache(FEEDBACK_TTL, size=4)


def text_module() -> bool:
    """Whether the feedback text package (sentiment and topics) is installed and imports."""
    try:
        from polku.cx.text.analyse import analyse  # noqa: F401
        from polku.cx.text.report import report  # noqa: F401
    except ImportError:
        return False
    return True


def has_feedback(ws: Workspace) -> bool:
    """Whether the feedback page can show something: the text package imports and a survey answer has a comment."""
    if not table_exists(ws, "events"):
        return False
    commented = ws.store.query(
        f"""SELECT 1 AS x FROM events WHERE type = '{ANSWER_EVENT}'
            AND coalesce(json_extract_string(properties, '$.comment'), '') <> '' LIMIT 1""")
    return bool(commented) and text_module()  # the package (and its model stack) loads only when there are texts


def feedback(ws: Workspace) -> dict[str, Any]:
    """Topics of the survey comments and ticket texts with volume, sentiment, quotes and effect on the scores
    (what ``GET /v1/cx/feedback`` answers)."""
    from polku.cx.text.ops import feedback as text_feedback
    from polku.model import utcnow

    def compute() -> dict[str, Any]:
        return {**text_feedback(ws), "as_of": utcnow()}

    return _feedback.get((_where(ws), "feedback"), compute)


def clear() -> None:
    """Forget the cached answers, health views and feedback analyses."""
    _answers.clear()
    _health.clear()
    _feedback.clear()
