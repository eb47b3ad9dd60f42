"""Surveys: NPS, CSAT, CES and custom questions in several languages, signed single-use links, answers as events.

    from polku.cx.surveys import Surveys
    surveys = Surveys(ws)
    [invite] = surveys.invite("onboarding-ces", ["anna@acme.fi"], Occasion(channel="email"), base)
    surveys.answer(token, {"ces": "6"}, Asked())   # one survey_answered event

Definitions live in ``surveys/*.yaml`` of the workspace (see docs/cx-surveys.md).
"""

from polku.cx.surveys.definitions import Question, Survey, Trigger
from polku.cx.surveys.invites import Occasion
from polku.cx.surveys.loader import load_surveys
from polku.cx.surveys.service import Asked, Page, Surveys

__all__ = ["Asked", "Occasion", "Page", "Question", "Survey", "Surveys", "Trigger", "load_surveys"]
