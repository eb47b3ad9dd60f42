"""The database schema, versioned. Each migration moves the schema one version up.

Tables fall in three groups: the event log (append-only), operational state (CRM
accounts, identity overrides, API keys) and derived tables that ``refresh`` rebuilds
from the first two at any time.
"""

from __future__ import annotations

from typing import Final

# Runs kept per contact in journey_heads (polku.analytics.journeys.HEAD_RUNS); changing it
# needs a new migration, as any schema change does.
_HEAD_RUNS_V8: Final = 16

EVENTS_DDL: Final[str] = """
CREATE TABLE events (
    seq BIGINT NOT NULL,          -- ingest order, assigned by the writer
    event_key UBIGINT NOT NULL,   -- hash(event_id), for deduplication
    event_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    type VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    anonymous_id VARCHAR,
    email VARCHAR,
    crm_id VARCHAR,
    account_id VARCHAR,
    topic VARCHAR,
    value DOUBLE,
    properties JSON,
    identity VARCHAR NOT NULL,    -- strongest id of the event: crm:…, email:…, anon:…
    received_at TIMESTAMPTZ NOT NULL,
    source VARCHAR NOT NULL
)
"""

DERIVED_DDL: Final[dict[str, str]] = {
    "identities": """
CREATE TABLE identities (
    identity VARCHAR NOT NULL,
    contact_id VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ
)""",
    "contacts": """
CREATE TABLE contacts (
    contact_id VARCHAR NOT NULL,
    anchor VARCHAR NOT NULL,
    account_id VARCHAR,
    email VARCHAR,
    crm_id VARCHAR,
    name VARCHAR,
    title VARCHAR,
    role VARCHAR,
    org_level VARCHAR,
    traits JSON,
    identities VARCHAR[],
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    event_count BIGINT,
    stage VARCHAR,
    stage_since TIMESTAMPTZ,
    journey_stage VARCHAR
)""",
    "accounts": """
CREATE TABLE accounts (
    account_id VARCHAR NOT NULL,
    crm_account_id VARCHAR,
    domain VARCHAR,
    name VARCHAR,
    industry VARCHAR,
    employees BIGINT,
    country VARCHAR,
    owner VARCHAR,
    traits JSON,
    contact_count BIGINT,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    event_count BIGINT,
    stage VARCHAR,
    stage_since TIMESTAMPTZ,
    journey_stage VARCHAR
)""",
    "merges": """
CREATE TABLE merges (
    merge_id VARCHAR NOT NULL,
    ts TIMESTAMPTZ,
    survivor_identity VARCHAR NOT NULL,
    merged_identity VARCHAR NOT NULL,
    cause VARCHAR NOT NULL,       -- identify, event, manual
    cause_event_id VARCHAR,
    link_a VARCHAR NOT NULL,
    link_b VARCHAR NOT NULL,
    contact_id VARCHAR
)""",
    "contact_channels": """
CREATE TABLE contact_channels (
    contact_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    events BIGINT NOT NULL,       -- touchpoints, identify calls not counted
    last_at TIMESTAMPTZ
)""",
    "journey_heads": f"""
CREATE TABLE journey_heads (
    contact_id VARCHAR NOT NULL,  -- type and start of the first runs of the contact's journey
    {", ".join(f"type_{k} VARCHAR, ts_{k} TIMESTAMPTZ" for k in range(1, _HEAD_RUNS_V8 + 1))}
)""",
    "journey_transitions": """
CREATE TABLE journey_transitions (
    source_type VARCHAR NOT NULL, -- consecutive touchpoints of contact journeys, counted
    source_channel VARCHAR,
    target_type VARCHAR NOT NULL,
    target_channel VARCHAR,
    count BIGINT NOT NULL
)""",
    "stage_history": """
CREATE TABLE stage_history (
    subject VARCHAR NOT NULL,     -- contact or account
    subject_id VARCHAR NOT NULL,
    stage VARCHAR NOT NULL,
    from_stage VARCHAR,
    ts TIMESTAMPTZ NOT NULL,
    rule VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    event_id VARCHAR,
    contact_id VARCHAR
)""",
}

# Derived tables that later versions add (version 1 creates the others).
_ADDED_LATER: Final = ("contact_channels", "journey_heads", "journey_transitions")

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # version 1
    (
        "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        EVENTS_DDL,
        """CREATE TABLE crm_accounts (
            account_id VARCHAR PRIMARY KEY,
            name VARCHAR, domain VARCHAR, industry VARCHAR, employees BIGINT,
            country VARCHAR, owner VARCHAR, traits JSON, updated_at TIMESTAMPTZ)""",
        """CREATE TABLE identity_overrides (
            override_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,           -- merge (link a and b) or split (never link)
            a VARCHAR NOT NULL, b VARCHAR NOT NULL,
            reason VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL,
            ts TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE api_keys (
            key_id VARCHAR PRIMARY KEY, secret_hash VARCHAR NOT NULL, scope VARCHAR NOT NULL,
            name VARCHAR, created_at TIMESTAMPTZ NOT NULL, revoked_at TIMESTAMPTZ)""",
        *(ddl for name, ddl in DERIVED_DDL.items() if name not in _ADDED_LATER),
    ),
    # version 2: per-contact channel aggregates, so 360° views need not scan the log
    (
        DERIVED_DDL["contact_channels"],
        "DELETE FROM meta WHERE key = 'refreshed'",
    ),
    # version 3: an integer key of each event's identity; timelines filter on it
    (
        "ALTER TABLE events ADD COLUMN identity_key UBIGINT",
        "UPDATE events SET identity_key = hash(identity)",
    ),
    # version 4: nurture journeys (definitions seen, enrolments, step history, outbox, requests, trigger state)
    (
        """CREATE TABLE nurture_journeys (
            journey_id VARCHAR PRIMARY KEY,
            version VARCHAR NOT NULL,         -- fingerprint of the definition last loaded
            name VARCHAR,
            priority INTEGER NOT NULL,
            status VARCHAR NOT NULL,          -- active, paused, removed (its file is gone)
            definition JSON NOT NULL,
            source VARCHAR,
            event_cursor BIGINT,              -- last event seq an event trigger has looked at
            loaded_at TIMESTAMPTZ NOT NULL,
            first_loaded_at TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE nurture_content (
            version VARCHAR PRIMARY KEY,      -- fingerprint of one template variant
            content_id VARCHAR NOT NULL,
            definition JSON NOT NULL,
            loaded_at TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE nurture_enrolments (
            enrolment_id VARCHAR PRIMARY KEY, -- journey.contact.entry
            journey_id VARCHAR NOT NULL,
            contact_id VARCHAR NOT NULL,
            entry INTEGER NOT NULL,           -- 1 for the first entry, 2 for a re-entry, ...
            arm VARCHAR NOT NULL,             -- treatment or control (the holdout)
            status VARCHAR NOT NULL,          -- active, holdout, completed, goal, exited
            step_id VARCHAR,
            step_since TIMESTAMPTZ,
            due_at TIMESTAMPTZ,
            priority INTEGER NOT NULL,
            exclusive BOOLEAN NOT NULL,
            trigger VARCHAR NOT NULL,
            enrolled_at TIMESTAMPTZ NOT NULL,
            goal_at TIMESTAMPTZ,
            ended_at TIMESTAMPTZ,
            end_reason VARCHAR)""",
        """CREATE TABLE nurture_steps (
            enrolment_id VARCHAR NOT NULL,
            step_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            ts TIMESTAMPTZ NOT NULL,
            outcome VARCHAR NOT NULL,
            detail VARCHAR)""",
        """CREATE TABLE nurture_outbox (
            message_id VARCHAR PRIMARY KEY,   -- the idempotency key: journey.contact.entry.step
            enrolment_id VARCHAR NOT NULL,
            journey_id VARCHAR NOT NULL,
            step_id VARCHAR NOT NULL,
            contact_id VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,         -- email or webhook
            purpose VARCHAR NOT NULL,         -- marketing, notify or webhook
            recipient VARCHAR,
            content_version VARCHAR,
            context JSON NOT NULL,            -- everything the message is rendered from, frozen
            status VARCHAR NOT NULL,          -- pending, sending, committing, sent, failed, suppressed, in_doubt
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMPTZ,
            claim VARCHAR,
            claimed_at TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL,
            sent_at TIMESTAMPTZ,
            in_doubt INTEGER NOT NULL,        -- times it was found in doubt after a crash
            error VARCHAR)""",
        """CREATE TABLE nurture_members (
            journey_id VARCHAR NOT NULL,      -- contacts inside a stage/score/segment trigger's condition
            contact_id VARCHAR NOT NULL)""",
        """CREATE TABLE nurture_requests (
            request_id VARCHAR PRIMARY KEY,
            journey_id VARCHAR NOT NULL,
            contact_id VARCHAR NOT NULL,
            requested_at TIMESTAMPTZ NOT NULL,
            source VARCHAR NOT NULL,
            status VARCHAR NOT NULL,          -- pending or done
            result VARCHAR,
            processed_at TIMESTAMPTZ)""",
    ),
    # version 5: dashboard users (scrypt password hashes) and their sign-in sessions (id hashes)
    (
        """CREATE TABLE users (
            name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL,   -- viewer, marketer or admin
            password_hash VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE sessions (
            session_hash VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, csrf VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)""",
    ),
    # version 6: lead and account scores as of the last rescore, with their reasons
    (
        """CREATE TABLE lead_scores (
            contact_id VARCHAR NOT NULL, account_id VARCHAR,
            fit DOUBLE, engagement DOUBLE, score DOUBLE, grade VARCHAR, fit_grade VARCHAR,
            reasons VARCHAR[], probability DOUBLE, scored_at TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE account_scores (
            account_id VARCHAR NOT NULL, score DOUBLE, grade VARCHAR,
            card JSON NOT NULL,               -- roll-up, buying-group coverage and reasons
            scored_at TIMESTAMPTZ NOT NULL)""",
    ),
    # version 7: survey invitations (signed single-use links), CX alerts, per-contact score state
    (
        """CREATE TABLE survey_invites (
            invite_id VARCHAR PRIMARY KEY,    -- random; the signed token names it
            survey_id VARCHAR NOT NULL, identity VARCHAR NOT NULL,  -- e.g. email:anna@acme.fi
            contact_id VARCHAR, account_id VARCHAR,
            trigger_event_id VARCHAR, trigger_type VARCHAR, phase VARCHAR,
            language VARCHAR, channel VARCHAR NOT NULL,          -- email, link, portal or journey
            enrolment_id VARCHAR,
            max_answers INTEGER NOT NULL, answers INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
            answered_at TIMESTAMPTZ)""",
        """CREATE TABLE cx_alerts (
            alert_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL,   -- detractor or health_drop
            account_id VARCHAR, contact_id VARCHAR, event_id VARCHAR,
            reason VARCHAR NOT NULL, owner VARCHAR,
            status VARCHAR NOT NULL,          -- open, acknowledged or closed
            journey_id VARCHAR,
            actions JSON NOT NULL,            -- [{at, by, action, note}], oldest first
            created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)""",
        """CREATE TABLE score_state (
            contact_id VARCHAR NOT NULL,      -- one row each; replaced, never updated in place
            rules_key VARCHAR NOT NULL, state JSON NOT NULL, updated_at TIMESTAMPTZ NOT NULL)""",
    ),
    # version 8: journey summaries for variants and transitions, rebuilt at refresh
    (
        DERIVED_DDL["journey_heads"],
        DERIVED_DDL["journey_transitions"],
        "DELETE FROM meta WHERE key = 'refreshed'",
    ),
)

SCHEMA_VERSION: Final[int] = len(MIGRATIONS)
