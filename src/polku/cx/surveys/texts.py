"""The answer page's own words (buttons, messages, standard scale labels) in English and Finnish.

A survey's questions come in the languages its file has; these are the words around them.
A language without its own set here uses English.
"""

from __future__ import annotations

from typing import Final

UI: Final[dict[str, dict[str, str]]] = {
    "en": {
        "submit": "Send answers",
        "required": "required",
        "optional": "optional",
        "errors_title": "Please check your answers",
        "missing": "Please answer this question.",
        "range": "Choose a value from {low} to {high}.",
        "unknown_choice": "Choose one of the options shown.",
        "too_long": "Please shorten your answer to at most {limit} characters (it has {length}).",
        "chars": "At most {limit} characters.",
        "thanks_title": "Thank you!",
        "thanks": "Your answers were saved.",
        "again": "You may answer again later with the same link.",
        "answered_title": "Already answered",
        "answered": "This survey has already been answered with this link. Thank you!",
        "expired_title": "This survey has closed",
        "expired": "The time for answering this survey has passed.",
        "invalid_title": "This link does not work",
        "invalid": "This survey link is not valid. Please open it again from the message you received.",
        "missing_title": "Survey not found",
        "missing_invite": "We could not find this survey. It may have been withdrawn.",
        "unavailable_title": "Survey unavailable",
        "unavailable": "This survey is not available right now. Please try again later.",
        "too_large": "Your answers are too long to be saved.",
        "scale_from": "from {low} to {high}",
    },
    "fi": {
        "submit": "Lähetä vastaukset",
        "required": "pakollinen",
        "optional": "vapaaehtoinen",
        "errors_title": "Tarkista vastauksesi",
        "missing": "Vastaa tähän kysymykseen.",
        "range": "Valitse arvo väliltä {low}–{high}.",
        "unknown_choice": "Valitse jokin näytetyistä vaihtoehdoista.",
        "too_long": "Lyhennä vastaustasi enintään {limit} merkkiin (siinä on {length}).",
        "chars": "Enintään {limit} merkkiä.",
        "thanks_title": "Kiitos!",
        "thanks": "Vastauksesi tallennettiin.",
        "again": "Voit vastata myöhemmin uudelleen samalla linkillä.",
        "answered_title": "Kyselyyn on jo vastattu",
        "answered": "Tähän kyselyyn on jo vastattu tällä linkillä. Kiitos!",
        "expired_title": "Kysely on päättynyt",
        "expired": "Tämän kyselyn vastausaika on päättynyt.",
        "invalid_title": "Linkki ei toimi",
        "invalid": "Kyselylinkki ei ole kelvollinen. Avaa se uudelleen saamastasi viestistä.",
        "missing_title": "Kyselyä ei löydy",
        "missing_invite": "Emme löytäneet tätä kyselyä. Se on ehkä poistettu.",
        "unavailable_title": "Kysely ei ole käytettävissä",
        "unavailable": "Kysely ei ole juuri nyt käytettävissä. Yritä myöhemmin uudelleen.",
        "too_large": "Vastauksesi ovat liian pitkiä tallennettaviksi.",
        "scale_from": "asteikolla {low}–{high}",
    },
}

# End labels of the standard scales; a survey's own ``labels`` replace them.
SCALE_LABELS: Final[dict[str, dict[str, dict[int, str]]]] = {
    "nps": {
        "en": {0: "Not at all likely", 10: "Extremely likely"},
        "fi": {0: "En lainkaan todennäköisesti", 10: "Erittäin todennäköisesti"},
    },
    "csat": {
        "en": {1: "Very dissatisfied", 5: "Very satisfied"},
        "fi": {1: "Erittäin tyytymätön", 5: "Erittäin tyytyväinen"},
    },
    "ces": {
        "en": {1: "Strongly disagree", 7: "Strongly agree"},
        "fi": {1: "Täysin eri mieltä", 7: "Täysin samaa mieltä"},
    },
}


def ui(lang: str) -> dict[str, str]:
    """The page's words in a language (English when there is no set for it)."""
    return UI.get(lang, UI["en"])


def accepted_languages(header: str | None) -> list[str]:
    """Languages of an Accept-Language header, most wanted first (``fi-FI,fi;q=0.9,en;q=0.8``)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and tag != "*" and q > 0:
            ranked.append((-q, n, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]
