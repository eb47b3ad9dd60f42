"""Vectorised validation of event columns, with the rules of model.EventIn, as SQL.

Every row gets at most one reason naming the field; rows with a reason are rejected.
The store runs these expressions over Arrow batches in the same pass that inserts
them, so millions of rows a second pass through.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from polku.errors import InvalidInput
from polku.model import (
    CHANNELS,
    EARLIEST_TS,
    EVENT_COLUMNS,
    EVENT_TYPE_PATTERN,
    MAX_FUTURE,
    MAX_ID_LENGTH,
    STANDARD_EVENTS,
)

# The normalised event batch every source is turned into before it reaches the store.
EVENT_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("type", pa.string()),
        ("channel", pa.string()),
        ("anonymous_id", pa.string()),
        ("email", pa.string()),
        ("crm_id", pa.string()),
        ("account_id", pa.string()),
        ("topic", pa.string()),
        ("value", pa.float64()),
        ("properties", pa.string()),
    ]
)

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("type", "channel")
_ID_COLUMNS: Final[tuple[str, ...]] = ("event_id", "anonymous_id", "email", "crm_id", "account_id", "topic")
EMAIL_PATTERN: Final[str] = r"[^@\s]+@[^@\s]+\.[^@\s]+"
PADDED_EMAIL: Final[str] = r"\s*" + EMAIL_PATTERN + r"\s*"  # trimming costs more than matching


def check_columns(names: list[str]) -> None:
    """Refuse a file whose columns are not event columns, naming what is wrong."""
    unknown = [n for n in names if n not in EVENT_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown column(s) {', '.join(map(repr, unknown))}; "
            f"event files may have: {', '.join(EVENT_COLUMNS)}"
        )
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        raise InvalidInput(f"missing required column(s): {', '.join(missing)}")
    if not any(c in names for c in ("anonymous_id", "email", "crm_id")):
        raise InvalidInput("an event file needs at least one of anonymous_id, email, crm_id")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def reason_sql(names: set[str]) -> str:
    """One CASE expression giving the first problem of a row, or NULL when it is good."""
    col = {c: (c if c in names else "NULL") for c in EVENT_COLUMNS}
    channels = ", ".join(_quote(c) for c in sorted(CHANNELS))
    standard = ", ".join(_quote(t) for t in STANDARD_EVENTS)
    earliest = _quote(EARLIEST_TS.isoformat())
    future_h = int(MAX_FUTURE.total_seconds() // 3600)
    checks = [
        (f"{col['type']} IS NULL OR trim({col['type']}::VARCHAR) = ''", "'type: missing'"),
        (
            f"{col['type']}::VARCHAR NOT IN ({standard}) "
            f"AND NOT regexp_full_match({col['type']}::VARCHAR, {_quote(EVENT_TYPE_PATTERN[1:-1])})",
            "'type: must be snake_case, got ' || {t}::VARCHAR".format(t=col["type"]),
        ),
        (f"{col['channel']} IS NULL", "'channel: missing'"),
        (
            f"lower(trim({col['channel']}::VARCHAR)) NOT IN ({channels})",
            "'channel: unknown channel ' || {c}::VARCHAR".format(c=col["channel"]),
        ),
        (
            f"{col['ts']} IS NOT NULL AND TRY_CAST({col['ts']} AS TIMESTAMPTZ) IS NULL",
            "'ts: cannot parse ' || {t}::VARCHAR".format(t=col["ts"]),
        ),
        (
            f"TRY_CAST({col['ts']} AS TIMESTAMPTZ) < {earliest}::TIMESTAMPTZ",
            f"'ts: before {EARLIEST_TS.year}'",
        ),
        (
            f"TRY_CAST({col['ts']} AS TIMESTAMPTZ) > now() + INTERVAL {future_h} HOUR",
            "'ts: in the future'",
        ),
        (
            "coalesce(" + ", ".join(f"nullif(trim({col[c]}::VARCHAR), '')" for c in ("anonymous_id", "email", "crm_id")) + ") IS NULL",
            "'identity: needs at least one of anonymous_id, email, crm_id'",
        ),
        (
            f"nullif(trim({col['email']}::VARCHAR), '') IS NOT NULL "
            f"AND NOT regexp_full_match({col['email']}::VARCHAR, {_quote(PADDED_EMAIL)})",
            "'email: not an e-mail address'",
        ),
        *[
            # strlen (bytes) is free; length (characters) only where the bytes are too many
            (
                f"strlen({col[c]}::VARCHAR) > {MAX_ID_LENGTH} AND length({col[c]}::VARCHAR) > {MAX_ID_LENGTH}",
                f"'{c}: longer than {MAX_ID_LENGTH} characters'",
            )
            for c in _ID_COLUMNS
            if c in names
        ],
        (
            f"{col['value']} IS NOT NULL AND (TRY_CAST({col['value']} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST({col['value']} AS DOUBLE)))",
            "'value: not a finite number'",
        ),
        (
            f"nullif(trim({col['properties']}::VARCHAR), '') IS NOT NULL "
            f"AND try(json_type({col['properties']}::VARCHAR)) IS DISTINCT FROM 'OBJECT'",
            "'properties: not a JSON object'",
        ),
    ]
    return "CASE " + " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in checks) + " END"


def normal_sql(names: set[str], only: tuple[str, ...] | None = None) -> str:
    """The SELECT list turning raw columns into the event log's columns (``only`` some of them)."""
    col = {c: (c if c in names else "NULL") for c in EVENT_COLUMNS}

    def text(c: str) -> str:
        return f"nullif(trim({col[c]}::VARCHAR), '')"

    # A file row without an event id gets one from its content, so re-importing the
    # same file stores each row once.
    content = " || '|' || ".join(f"coalesce({col[c]}::VARCHAR, '')" for c in EVENT_COLUMNS if c != "event_id")
    exprs = {
        "event_id": f"CASE WHEN {text('event_id')} IS NULL THEN 'r' || md5({content}) ELSE {text('event_id')} END",
        "ts": f"coalesce(TRY_CAST({col['ts']} AS TIMESTAMPTZ), now())::TIMESTAMPTZ",
        "type": f"trim({col['type']}::VARCHAR)",
        "channel": f"lower(trim({col['channel']}::VARCHAR))",
        "anonymous_id": text("anonymous_id"),
        "email": f"lower({text('email')})",
        "crm_id": text("crm_id"),
        "account_id": text("account_id"),
        "topic": text("topic"),
        "value": f"TRY_CAST({col['value']} AS DOUBLE)",
        "properties": f"coalesce({text('properties')}, '{{}}')::JSON",
    }
    return ", ".join(f"{exprs[c]} AS {c}" for c in (only or EVENT_COLUMNS))
