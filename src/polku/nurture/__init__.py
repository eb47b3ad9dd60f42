"""Nurture journeys: declarative journeys, a set-based engine, an outbox delivered exactly once, and reports.

The way in: ``Scheduler(ws).once()`` runs one round (what `polku nurture tick` does);
``Engine`` ticks, ``Deliverer`` delivers, ``journey_report`` reports, and
``enrolments_for_contact`` gives a contact's journeys for the 360° view. The HTTP routes are
``polku.nurture.api.nurture_router`` and the commands ``polku.nurture.cli.nurture_app``.
"""

from polku.nurture.delivery import Deliverer, DeliveryResult
from polku.nurture.engine import Engine, TickResult
from polku.nurture.loader import Definitions, load_definitions
from polku.nurture.report import journey_report
from polku.nurture.scheduler import Scheduler, start_in_server
from polku.nurture.settings import SmtpSettings
from polku.nurture.views import enrolments_for_contact, lists_for_contact, requests_for_contact

__all__ = [
    "Definitions",
    "Deliverer",
    "DeliveryResult",
    "Engine",
    "Scheduler",
    "SmtpSettings",
    "TickResult",
    "enrolments_for_contact",
    "journey_report",
    "lists_for_contact",
    "load_definitions",
    "requests_for_contact",
    "start_in_server",
]
