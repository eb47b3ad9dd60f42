"""The event model rejects bad input with the field named, and the file validator agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pydantic import ValidationError

from polku import Workspace
from polku.model import EventIn, IdentifyIn

GOOD = {"type": "page_view", "channel": "web", "anonymous_id": "d-1", "ts": "2025-03-01T10:00:00Z"}
FUTURE = (datetime.now(UTC) + timedelta(days=3)).isoformat()

BAD = [
    ({"channel": "fax"}, "channel"),
    ({"type": "Page View"}, "type"),
    ({"type": ""}, "type"),
    ({"ts": "yesterday-ish"}, "ts"),
    ({"ts": "1970-01-01T00:00:00Z"}, "ts"),
    ({"ts": FUTURE}, "ts"),
    ({"anonymous_id": None}, "identity"),
    ({"email": "not-an-address"}, "email"),
    ({"anonymous_id": "x" * 300}, "anonymous_id"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_event_model_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventIn.model_validate({**GOOD, **change})
    text = str(info.value)
    assert field in text or (field == "identity" and "anonymous_id, email, crm_id" in text)


@pytest.mark.parametrize(("change", "field"), BAD)
def test_file_validator_rejects_the_same_rows(ws: Workspace, change: dict[str, object], field: str) -> None:
    row = {**GOOD, **change}
    table = pa.table({k: pa.array([GOOD.get(k), row.get(k)], pa.string()) for k in GOOD | row})
    result = ws.store.append_events(table, "test", first_row=2)
    assert result.inserted == 1
    assert [line for line, _ in result.rejects] == [3]
    assert result.rejects[0][1].startswith(field)


def test_good_event_is_normalised() -> None:
    event = EventIn.model_validate({**GOOD, "email": " Anna@Acme.FI "})
    assert event.email == "anna@acme.fi"
    assert event.ts == datetime(2025, 3, 1, 10, tzinfo=UTC)
    row = event.row(datetime.now(UTC))
    assert row["event_id"] and row["channel"] == "web"


def test_file_validator_normalises_like_the_model(ws: Workspace) -> None:
    table = pa.table({k: pa.array([v], pa.string()) for k, v in {**GOOD, "email": " Anna@Acme.FI"}.items()})
    ws.store.append_events(table, "test")
    [good] = ws.store.query("SELECT email, ts, properties, identity FROM events")
    assert good["email"] == "anna@acme.fi" and good["identity"] == "email:anna@acme.fi"
    assert good["ts"] == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert good["properties"] == "{}"


def test_identify_needs_a_known_identity() -> None:
    with pytest.raises(ValidationError, match="email or a crm_id"):
        IdentifyIn(anonymous_id="d-1")
    with pytest.raises(ValidationError, match="role"):
        IdentifyIn(email="a@acme.fi", traits={"role": "boss"})
    event = IdentifyIn(anonymous_id="d-1", email="a@acme.fi", traits={"name": "A"}, account={"name": "Acme"}).as_event()
    assert event.type == "identify" and event.properties == {"name": "A", "account": {"name": "Acme"}}


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="colour"):
        EventIn.model_validate({**GOOD, "colour": "red"})
