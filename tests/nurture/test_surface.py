"""The nurture package exports exactly its intended names; a bad tracking token is a 400 PolkuError."""

from __future__ import annotations

import polku.nurture
from polku.errors import PolkuError
from polku.nurture.tokens import BadToken, make, read


def test_exported_names() -> None:
    assert set(polku.nurture.__all__) == {
        "Definitions", "Deliverer", "DeliveryResult", "Engine", "Scheduler", "SmtpSettings", "TickResult",
        "enrolments_for_contact", "journey_report", "lists_for_contact", "load_definitions", "requests_for_contact",
        "start_in_server",
    }
    assert all(hasattr(polku.nurture, name) for name in polku.nurture.__all__)


def test_tokens_round_trip_and_refuse_forgeries() -> None:
    secret, other = "ab" * 32, "cd" * 32
    token = make(secret, "c", "welcome.c_1.1.intro", "https://example.com/a?b=1|2")
    claim = read(secret, token, "c")
    assert (claim.kind, claim.message_id, claim.url) == ("click", "welcome.c_1.1.intro", "https://example.com/a?b=1|2")
    for bad, why in ((other, "signature does not match"), (None, "signature does not match")):
        try:
            read(bad, token, "c")
        except BadToken as exc:
            assert why in exc.message and exc.status == 400 and isinstance(exc, PolkuError)
        else:
            raise AssertionError("a forged token was accepted")
    try:
        read(secret, token, "u")
    except BadToken as exc:
        assert "not an unsubscribe link" in exc.message
    else:
        raise AssertionError("a click token was taken for an unsubscribe")
