"""What the answer page needs of each invitation, kept in memory, so a page view costs no database query.

A DuckDB query costs a millisecond or more whatever it reads (planning and scheduling), which
would cap the public page far below the rate it must serve. An invitation never changes
after it is made except for its answer count, and answers are counted by this process (the
one that owns the workspace), so the page may read a copy: the open invitations are loaded
once (one scan), an invitation not in memory is read by its primary key and kept, and an
answer stored here updates its copy. Storing an answer never trusts the copy: the writer
checks the database (see ``submit.record``), so a stale copy can at worst show a form whose
answer is then refused with 409.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Final, NamedTuple

from polku.store import cx_surveys as sql
from polku.store.duck import DuckStore

MAX_KEPT: Final[int] = 500_000  # about 100 MB at most; past it the copy starts over (and refills as pages are read)


class State(NamedTuple):
    """An invitation as the page reads it."""

    invite_id: str
    survey_id: str
    language: str | None
    answers: int
    max_answers: int
    expires_at: datetime

    def row(self) -> dict[str, Any]:
        """The state as the row ``submit.check_invite`` reads."""
        return self._asdict()


class InviteStates:
    """Invitation states by id: loaded once, read through on a miss, updated when an answer is stored."""

    def __init__(self, store: DuckStore, *, limit: int = MAX_KEPT) -> None:
        self.store = store
        self.limit = limit
        self._states: dict[str, State] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self, now: datetime) -> None:
        with self._lock:
            if self._loaded:
                return
            for r in sql.open_states(self.store, now, self.limit):
                self._states[r["invite_id"]] = State(**r)
            self._loaded = True

    def get(self, invite_id: str, now: datetime) -> State | None:
        """The invitation's state, or None when there is no such invitation."""
        if not self._loaded:
            self._load(now)
        found = self._states.get(invite_id)
        if found is None:
            row = sql.invite_state(self.store, invite_id)
            if row is None:
                return None
            found = self.remember(State(**row))
        return found

    def remember(self, state: State) -> State:
        """Keep a state (new invitations, answers just stored)."""
        if len(self._states) >= self.limit:
            self._states.clear()
        self._states[state.invite_id] = state
        return state

    def answered(self, invite_id: str, answers: int) -> None:
        """Note the answer count the database now holds for an invitation."""
        found = self._states.get(invite_id)
        if found is not None:
            self._states[invite_id] = found._replace(answers=answers)
