"""The attribution query on small hand-built logs whose every credit can be counted by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis
import pytest

from polku.analytics.attribution import (
    AttributionQuery,
    AttributionResult,
    attribute,
    conversion_paths,
    rule_based,
)
from polku.analytics.attribution.extract import conversions_in_range, journey_touches, path_counts, rule_based_credit
from polku.analytics.tables import (
    ACCOUNTS_SCHEMA,
    CONTACTS_SCHEMA,
    STAGES_SCHEMA,
    TOUCHPOINTS_SCHEMA,
    Tables,
    from_records,
)
from polku.errors import InvalidInput

T0 = datetime(2025, 3, 1, tzinfo=UTC)
RULES = ["first_touch", "last_touch", "linear", "time_decay", "position_based"]

TYPE_OF = {"web": "page_view", "email": "email_open", "meeting": "meeting_held", "phone": "call_held",
           "event": "event_attended", "crm": "lead_qualified", "product": "product_usage"}


def at(day: float) -> datetime:
    """T0 plus ``day`` days."""
    return T0 + timedelta(days=day)


def touch(contact: str, day: float, channel: str, **more: Any) -> dict[str, Any]:
    """One touchpoint of a contact."""
    row = {"event_id": f"{contact}-{day}-{channel}", "ts": at(day), "channel": channel,
           "type": TYPE_OF.get(channel, "page_view"), "contact_id": contact}
    return {**row, **more}


def reached(subject_id: str, day: float, stage: str = "opportunity", subject: str = "contact") -> dict[str, Any]:
    """A stage-history entry."""
    return {"subject": subject, "subject_id": subject_id, "stage": stage, "ts": at(day), "rule": "test", "reason": "test"}


def credits(result: AttributionResult, model: str) -> dict[str, float]:
    """One model's credits, zero rows dropped."""
    return {k: float(v) for k, v in result.credits[model].items() if v != 0}


# Contact a: web, email, meeting, phone a week apart, converts a week after the phone call.
# Contact b: one e-mail, converts the next day. Contact c: two web visits, never converts.
LOG = from_records(
    [
        touch("a", 0, "web"), touch("a", 7, "email"), touch("a", 14, "meeting"), touch("a", 21, "phone"),
        touch("b", 1, "email"),
        touch("c", 0, "web"), touch("c", 3, "web"),
    ],
    [reached("a", 28), reached("b", 2)],
)


def test_rule_based_models_by_hand() -> None:
    result = AttributionQuery().run(LOG)
    assert (result.conversions, result.attributed, result.journeys, result.distinct_paths) == (2, 2, 3, 3)
    assert credits(result, "first_touch") == {"web": 1.0, "email": 1.0}
    assert credits(result, "last_touch") == {"phone": 1.0, "email": 1.0}
    assert credits(result, "linear") == pytest.approx({"web": 0.25, "email": 1.25, "meeting": 0.25, "phone": 0.25})
    assert credits(result, "position_based") == pytest.approx({"web": 0.4, "email": 1.1, "meeting": 0.1, "phone": 0.4})
    # half-life 7 days: phone 1, meeting 1/2, e-mail 1/4, web 1/8 of a's conversion, normalised
    assert credits(result, "time_decay") == pytest.approx(
        {"phone": 8 / 15, "meeting": 4 / 15, "email": 1 + 2 / 15, "web": 1 / 15}
    )
    for model in result.credits.columns:
        assert result.credits[model].sum() == pytest.approx(2.0), model
    assert result.notes == ()


def test_time_decay_half_life_is_configurable() -> None:
    result = AttributionQuery(models=["time_decay"], half_life_days=14).run(LOG)
    w = {"phone": 1.0, "meeting": 2**-0.5, "email": 2**-1.0, "web": 2**-1.5}
    total = sum(w.values())
    expected = {k: v / total for k, v in w.items()}
    expected["email"] += 1.0
    assert credits(result, "time_decay") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("weights", "two", "three"),
    [
        ((0.4, 0.2, 0.4), (0.5, 0.5), (0.4, 0.2, 0.4)),
        ((0.3, 0.4, 0.3), (0.5, 0.5), (0.3, 0.4, 0.3)),
        ((0.6, 0.4, 0.0), (1.0, 0.0), (0.6, 0.4, 0.0)),
        ((0.0, 1.0, 0.0), (0.5, 0.5), (0.0, 1.0, 0.0)),
    ],
)
def test_position_based_weights(
    weights: tuple[float, float, float], two: tuple[float, float], three: tuple[float, float, float]
) -> None:
    log = from_records(
        [touch("p", 0, "web"), touch("p", 1, "email"),
         touch("q", 0, "event"), touch("q", 1, "meeting"), touch("q", 2, "phone"),
         touch("r", 0, "web")],
        [reached("p", 5), reached("q", 5), reached("r", 5)],
    )
    result = AttributionQuery(models=["position_based"], position_weights=weights).run(log)
    got = result.credits["position_based"]
    assert (got["web"] - 1.0, got["email"]) == pytest.approx(two)  # r's single touch is all web
    assert (got["event"], got["meeting"], got["phone"]) == pytest.approx(three)


def test_ties_follow_seq_and_the_conversion_moment_is_not_a_touch() -> None:
    log = from_records(
        [
            touch("a", 0, "web", seq=20),
            touch("a", 0, "email", seq=10),  # same time, ingested first: the first touch
            touch("a", 5, "meeting"),  # at the very moment of conversion: the conversion itself
            touch("a", 6, "phone"),  # after converting
        ],
        [reached("a", 5)],
    )
    result = AttributionQuery(models=["first_touch", "last_touch"]).run(log)
    assert credits(result, "first_touch") == {"email": 1.0}
    assert credits(result, "last_touch") == {"web": 1.0}
    assert conversion_paths(log)["path"].tolist() == ["email > web"]


def test_crm_and_product_are_left_out_by_default() -> None:
    log = from_records(
        [touch("a", 0, "web"), touch("a", 1, "crm"), touch("a", 2, "product"),
         touch("b", 0, "crm")],
        [reached("a", 3), reached("b", 3)],
    )
    default = AttributionQuery(models=["last_touch"]).run(log)
    assert credits(default, "last_touch") == {"web": 1.0}
    assert default.attributed == 1 and default.conversions == 2
    assert default.notes == (
        "1 of 2 conversions had no touchpoint in the chosen channels before them (within the lookback); "
        "no model credits them",
    )
    everything = AttributionQuery(models=["last_touch"], exclude_channels=[]).run(log)
    assert credits(everything, "last_touch") == {"product": 1.0, "crm": 1.0}
    only = AttributionQuery(models=["linear"], include_channels=["web", "crm"]).run(log)
    assert credits(only, "linear") == {"crm": 1.5, "web": 0.5}


def test_credit_by_touchpoint_type() -> None:
    log = from_records(
        [touch("a", 0, "web", type="page_view"), touch("a", 1, "web", type="demo_requested"),
         touch("a", 2, "email", type="email_click")],
        [reached("a", 3)],
    )
    result = AttributionQuery(by="type", models=["first_touch", "last_touch", "markov"]).run(log)
    assert result.credits.index.name == "type"
    assert credits(result, "first_touch") == {"page_view": 1.0}
    assert credits(result, "last_touch") == {"email_click": 1.0}
    assert set(result.credits.index) == {"page_view", "demo_requested", "email_click"}


def test_lookback_cuts_old_touches_of_both_kinds_of_journey() -> None:
    log = from_records(
        [touch("a", 0, "event"), touch("a", 95, "web"),  # a converts on day 100
         touch("c", 0, "event"), touch("c", 150, "web")],  # c never converts
        [reached("a", 100)],
    )
    bounded = dict(date_to=at(200), lookback_days=90)
    # a: day 0 is over 90 days before its conversion on day 100; c: before the range end, day 200
    assert conversion_paths(log, **bounded).to_dict("records") == [{"path": "web", "conversions": 1, "nulls": 1}]
    # without date_to, non-converting journeys end at the latest touchpoint (day 150)
    assert conversion_paths(log, lookback_days=60).to_dict("records") == [
        {"path": "web", "conversions": 1, "nulls": 1}
    ]
    assert conversion_paths(log).to_dict("records") == [{"path": "event > web", "conversions": 1, "nulls": 1}]


def test_max_touches_keeps_the_last_ones() -> None:
    log = from_records(
        [touch("a", 0, "web"), touch("a", 1, "email"), touch("a", 2, "meeting"), touch("a", 3, "phone")],
        [reached("a", 4)],
    )
    assert conversion_paths(log, max_touches=2)["path"].tolist() == ["meeting > phone"]
    assert credits(AttributionQuery(models=["first_touch"], max_touches=2).run(log), "first_touch") == {"meeting": 1.0}


def test_date_range() -> None:
    log = from_records(
        [
            touch("early", 1, "web"), touch("early", 20, "email"),  # converted before the range
            touch("in", 5, "web"), touch("in", 15, "meeting"),  # touch before the range is cut
            touch("late", 12, "event"), touch("late", 25, "phone"),  # converts after the range
        ],
        [reached("early", 2), reached("in", 16), reached("late", 30)],
    )
    query = dict(date_from=at(10), date_to=at(20))
    paths = conversion_paths(log, **query)
    assert paths.to_dict("records") == [
        {"path": "meeting", "conversions": 1, "nulls": 0},
        {"path": "event", "conversions": 0, "nulls": 1},
    ]
    result = attribute(log, models=["linear", "markov"], **query)
    assert (result.conversions, result.attributed, result.journeys) == (1, 1, 2)
    assert credits(result, "linear") == {"meeting": 1.0}


def test_naive_dates_are_utc() -> None:
    query = AttributionQuery(date_from=datetime(2025, 3, 1), date_to=datetime(2025, 3, 2, 12, tzinfo=UTC))
    assert query.date_from == T0
    assert query.model_dump(mode="json")["date_from"] == "2025-03-01T00:00:00Z"


def test_account_level_merges_the_buying_group_in_time_order() -> None:
    log = from_records(
        [
            touch("ann", 0, "web", account_id="acme"), touch("bob", 1, "event", account_id="acme"),
            touch("ann", 2, "meeting", account_id="acme"), touch("bob", 9, "phone", account_id="acme"),
            touch("cy", 0, "email", account_id="beta"),
            touch("anon", 0, "web"),  # no account: not part of any account's journey
        ],
        [reached("ann", 5), reached("acme", 5, subject="account")],
    )
    query = dict(level="account", models=["first_touch", "last_touch", "linear"])
    assert conversion_paths(log, **query).to_dict("records") == [
        {"path": "web > event > meeting", "conversions": 1, "nulls": 0},
        {"path": "email", "conversions": 0, "nulls": 1},
    ]
    result = attribute(log, **query)
    assert credits(result, "first_touch") == {"web": 1.0}
    assert credits(result, "last_touch") == {"meeting": 1.0}
    assert credits(result, "linear") == pytest.approx({"web": 1 / 3, "event": 1 / 3, "meeting": 1 / 3})


def test_event_type_conversion() -> None:
    log = from_records(
        [
            touch("a", 0, "email"), touch("a", 1, "web", type="demo_requested"),
            touch("a", 2, "web"), touch("a", 3, "web", type="demo_requested"),
            touch("b", 0, "event", account_id="x"), touch("c", 1, "web", type="demo_requested", account_id="x"),
        ],
    )
    contact = conversion_paths(log, conversion={"event_type": "demo_requested"})
    assert contact.to_dict("records") == [
        {"path": "email", "conversions": 1, "nulls": 0},
        {"path": "event", "conversions": 0, "nulls": 1},
    ]
    account = conversion_paths(log, level="account", conversion={"event_type": "demo_requested"})
    assert account.to_dict("records") == [{"path": "event", "conversions": 1, "nulls": 0}]


def test_later_stages_count_only_when_asked() -> None:
    log = from_records(
        [touch("a", 0, "web"), touch("b", 0, "email")],
        [reached("a", 1, "opportunity"), reached("a", 3, "customer"), reached("b", 2, "customer")],
    )
    exact = attribute(log, models=["last_touch"])
    assert credits(exact, "last_touch") == {"web": 1.0}
    later = attribute(log, models=["last_touch"], conversion={"stage": "opportunity", "later_stages": True})
    assert credits(later, "last_touch") == {"web": 1.0, "email": 1.0}


def test_no_conversions_is_an_explicit_empty_result() -> None:
    log = from_records([touch("a", 0, "web")])
    result = AttributionQuery(date_from=at(0), date_to=at(10)).run(log)
    assert (result.conversions, result.attributed, result.journeys) == (0, 0, 1)
    assert result.credits.empty and list(result.credits.columns) == list(AttributionQuery().models)
    assert result.shares.empty and result.table().empty
    assert result.notes == (
        "no conversions (first reaching stage 'opportunity') at contact level from "
        "2025-03-01T00:00:00+00:00 to 2025-03-11T00:00:00+00:00; nothing to attribute",
    )
    data = result.to_dict()
    assert data["rows"] == [] and data["conversions"] == 0
    json.dumps(data)


def test_empty_tables() -> None:
    result = attribute(from_records([]))
    assert result.credits.empty and result.conversions == 0 and result.journeys == 0
    assert conversion_paths(from_records([])).empty


def test_every_journey_converting_is_noted() -> None:
    log = from_records([touch("a", 0, "web"), touch("b", 0, "email")], [reached("a", 1), reached("b", 1)])
    result = attribute(log)
    assert result.credits["markov"].to_dict() == pytest.approx({"email": 1.0, "web": 1.0})
    assert any("no non-converting journeys" in n for n in result.notes)


def test_only_the_requested_models_in_their_order() -> None:
    result = attribute(LOG, models=["shapley", "last_touch"])
    assert list(result.credits.columns) == ["shapley", "last_touch"]
    assert list(result.table().columns) == ["shapley", "shapley_share", "last_touch", "last_touch_share"]


def test_shares_and_json() -> None:
    result = AttributionQuery().run(LOG)
    assert result.shares.sum().tolist() == pytest.approx([1.0] * len(result.credits.columns))
    data = json.loads(json.dumps(result.to_dict()))
    web = next(r for r in data["rows"] if r["channel"] == "web")
    assert web["credit"]["first_touch"] == 1.0 and web["share"]["first_touch"] == 0.5
    assert AttributionQuery.parse(data["query"]) == result.query
    assert set(result.frames()) == {"credits", "shares"}


def test_rule_based_function_for_notebooks() -> None:
    frame = rule_based(LOG)
    assert list(frame.columns) == RULES
    assert frame.loc["email", "linear"] == pytest.approx(1.25)
    assert list(rule_based(LOG, models=["linear", "markov"]).columns) == ["linear"]


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"models": []}, "models", "at least 1 item"),
        ({"models": ["markov", "markov"]}, "models", "more than once"),
        ({"models": ["u_shaped"]}, "models.0", "Input should be"),
        ({"level": "team"}, "level", "Input should be"),
        ({"by": "topic"}, "by", "Input should be"),
        ({"lookback_days": 0}, "lookback_days", "greater than or equal to 1"),
        ({"half_life_days": 0}, "half_life_days", "greater than 0"),
        ({"position_weights": [0.5, 0.5, 0.5]}, "position_weights", "must add up to 1"),
        ({"position_weights": [1.2, -0.2, 0.0]}, "position_weights", "non-negative"),
        ({"include_channels": ["fax"]}, "include_channels", "unknown channels ['fax']"),
        ({"exclude_channels": ["tv"]}, "exclude_channels", "unknown channels ['tv']"),
        ({"include_channels": ["crm"], "exclude_channels": ["crm"]}, "query", "leave no channel"),
        ({"date_from": "2025-02-01", "date_to": "2025-01-01"}, "query", "date_from must be before date_to"),
        ({"markov_order": 5}, "markov_order", "less than or equal to 4"),
        ({"conversion": {"stage": "lead", "event_type": "demo_requested"}}, "conversion", "not both"),
        ({"conversion": {"event_type": "identify"}}, "conversion", "not touchpoints"),
        ({"conversion": {"event_type": "Demo Requested"}}, "conversion.event_type", "pattern"),
        ({"conversion": {"stage": "visitor"}}, "conversion.stage", "Input should be"),
        ({"conversion": {"event_type": "x", "later_stages": True}}, "conversion", "stage conversion only"),
        ({"lookback": 30}, "lookback", "Extra inputs are not permitted"),
    ],
)
def test_invalid_queries_name_the_field(fields: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        AttributionQuery.parse(fields)
    assert caught.value.status == 422
    assert any(d["field"] == field and reason in d["reason"] for d in caught.value.details), caught.value.details
    assert field in caught.value.message


def test_plain_functions_validate_too() -> None:
    with pytest.raises(InvalidInput, match="half_life_days"):
        attribute(LOG, half_life_days=-1)


def _abstract_tables() -> Tables:
    """Unbound tables with the analytics schemas, for compiling to other engines' SQL."""
    return Tables(
        touchpoints=ibis.table(TOUCHPOINTS_SCHEMA, name="touchpoints"),
        stages=ibis.table(STAGES_SCHEMA, name="stages"),
        contacts=ibis.table(CONTACTS_SCHEMA, name="contacts"),
        accounts=ibis.table(ACCOUNTS_SCHEMA, name="accounts"),
    )


@pytest.mark.parametrize("dialect", ["postgres", "trino", "snowflake"])
def test_expressions_compile_for_other_engines(dialect: str) -> None:
    tables = _abstract_tables()
    query = AttributionQuery(level="account", lookback_days=30, max_touches=20, date_from=T0, date_to=at(90))
    journeys = journey_touches(tables, query)
    for expr in (path_counts(journeys), rule_based_credit(journeys, query, RULES),
                 conversions_in_range(tables, query).count()):
        assert "SELECT" in ibis.to_sql(expr, dialect=dialect)


def test_paths_need_no_ordered_aggregate() -> None:
    # Spark (through Ibis) has no ordered aggregates; the paths are built without them.
    journeys = journey_touches(_abstract_tables(), AttributionQuery())
    assert "SELECT" in ibis.to_sql(path_counts(journeys), dialect="pyspark")


def test_public_names() -> None:
    from polku.analytics import attribution

    assert set(attribution.__all__) == {
        "MODELS", "SEP", "AttributionQuery", "AttributionResult", "Conversion", "PathSet",
        "attribute", "conversion_paths", "markov", "rule_based", "shapley",
    }
    assert attribution.MODELS == (
        "first_touch", "last_touch", "linear", "time_decay", "position_based", "markov", "shapley"
    )


def test_rule_based_needs_a_rule_based_model() -> None:
    with pytest.raises(InvalidInput, match="none of"):
        rule_based(LOG, models=["markov"])
