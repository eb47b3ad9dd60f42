"""Generated B2B feedback texts in English and Finnish, for benchmarks and tests (never for measuring accuracy).

Each text is composed from a clause about one topic with an intended sentiment, sometimes a
second clause about another topic, an opener and a closer, with slot values (numbers, product
codes, names) and a little noise (lower case, missing punctuation), plus a share of short
generic comments that repeat, as real comments do. The clauses were written for this generator
and share no sentence with the labelled training or test sets. Each text carries an NPS answer
drawn from its intended sentiment, and topics differ in how often they are negative, so the
topic table has something to find.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

SENTIMENTS: Final = ("negative", "neutral", "positive")
# P(negative), P(neutral) per topic; the rest is positive.
MIX: Final[dict[str, tuple[float, float]]] = {
    "delivery": (0.55, 0.2), "service": (0.25, 0.25), "support": (0.45, 0.2), "invoicing": (0.55, 0.25),
    "onboarding": (0.3, 0.25), "portal": (0.4, 0.3), "sales": (0.3, 0.25), "quality": (0.25, 0.25),
    "price": (0.5, 0.3), "general": (0.3, 0.3),
}
SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "n": ("2", "3", "4", "5", "6", "8", "10", "12", "14", "21"),
    "code": ("X200", "HX-300", "KV-12", "P40", "M-880", "TR5", "AQ-7", "ZL-90"),
    "order": ("4471", "5520", "60218", "71133", "80094", "91507", "33871", "12744"),
    "name": ("Mikko", "Anna", "Jari", "Sanna", "Pekka", "Laura", "Timo", "Elina"),
}
CLAUSES: Final[dict[str, dict[str, dict[str, tuple[str, ...]]]]] = {
    "en": {
        "delivery": {
            "negative": ("the {code} parts came {n} days late", "order {order} was delivered to the wrong dock",
                         "the shipment arrived with broken pallets", "we are still missing items from order {order}",
                         "the delivery window was missed again"),
            "neutral": ("order {order} was delivered in {n} days", "the parts came in two separate shipments",
                        "we would like delivery notices by text message", "the {code} order is due next week"),
            "positive": ("order {order} arrived a day early", "the delivery of the {code} units was spot on",
                         "every shipment this month came on time", "your driver handled the {code} with great care"),
        },
        "service": {
            "negative": ("the {code} still fails after the repair", "the service visit was cancelled {n} times",
                         "{name} from service left without fixing the leak", "maintenance took {n} hours longer than agreed"),
            "neutral": ("{name} did the yearly maintenance on the {code}", "the next service visit is in {n} weeks",
                        "the technician replaced the seals on the {code}", "service was booked for line {n}"),
            "positive": ("{name} fixed the {code} in no time", "the maintenance visit was quick and tidy",
                         "your technician solved a fault we had fought for {n} weeks", "the repair on line {n} was excellent"),
        },
        "support": {
            "negative": ("nobody answered ticket {order} for {n} days", "the support line kept us on hold forever",
                         "support closed our case without a fix", "we got {n} different answers from support"),
            "neutral": ("we sent the logs for ticket {order}", "support asked for photos of the {code}",
                        "ticket {order} is waiting for our reply", "we called support about the {code} alarm"),
            "positive": ("{name} in support solved it on the first call", "support answered within minutes",
                         "the helpdesk walked us through the {code} reset perfectly", "great help from support with ticket {order}"),
        },
        "invoicing": {
            "negative": ("invoice {order} was wrong again", "we were billed twice for order {order}",
                         "the invoice did not match the offer", "your invoices keep missing our reference"),
            "neutral": ("please send invoice {order} as an e-invoice", "the invoice for order {order} came today",
                        "invoices should go to our new address", "we need a copy of invoice {order}"),
            "positive": ("invoicing has been spotless", "the credit note for invoice {order} came fast",
                         "the invoices are clear and easy to approve", "billing fixed our question the same day"),
        },
        "onboarding": {
            "negative": ("the {code} start-up was delayed by {n} weeks", "nobody trained our operators on the {code}",
                         "onboarding was a mess from day one", "the installation team left the line half done"),
            "neutral": ("the {code} training is planned for week {n}", "onboarding took {n} weeks",
                        "we got the start-up checklist for the {code}", "{name} led our onboarding"),
            "positive": ("the {code} commissioning went without a hitch", "{name} made onboarding easy",
                         "the operator training was excellent", "we were producing within {n} days of installation"),
        },
        "portal": {
            "negative": ("the portal was down for {n} hours", "I cannot find order {order} in the portal",
                         "the portal is painfully slow", "the portal lost my saved cart again"),
            "neutral": ("please add {name} as a portal user", "we use the portal for invoices",
                        "the portal shows {n} open orders", "can the portal export the {code} data"),
            "positive": ("the portal makes reordering a breeze", "tracking order {order} in the portal was easy",
                         "the new portal is quick and clear", "the {code} manuals are easy to find in the portal"),
        },
        "sales": {
            "negative": ("our sales rep has not called back in {n} weeks", "the quote for the {code} took {n} weeks",
                         "sales promised things the {code} cannot do", "the offer was full of errors"),
            "neutral": ("{name} sent the quote for {n} units", "we are comparing your offer for the {code}",
                        "the sales meeting is in week {n}", "please quote {n} more {code} units"),
            "positive": ("{name} in sales really knows our needs", "the quote for the {code} came the same day",
                         "your sales team gave honest advice", "the offer was clear and complete"),
        },
        "quality": {
            "negative": ("the {code} broke after {n} weeks", "{n} of the valves were faulty",
                         "the {code} leaks oil", "the new sensors drift constantly"),
            "neutral": ("the {code} runs {n} shifts a week", "we have {n} units of the {code}",
                        "the {code} firmware was updated", "the {code} performs as specified"),
            "positive": ("the {code} has run {n} months without a fault", "the build quality of the {code} is superb",
                         "the new {code} is rock solid", "the {code} cut our energy use noticeably"),
        },
        "price": {
            "negative": ("the price of the {code} went up {n} percent", "spare parts are far too expensive",
                         "the service fee is way too high", "the freight charge on order {order} was absurd"),
            "neutral": ("we need next year's price list", "the {code} price is in line with others",
                        "please quote prices for {n} units", "prices were updated in week {n}"),
            "positive": ("the {code} is good value for money", "the pricing is fair and clear",
                         "we got a fair discount on order {order}", "the upgrade cost less than expected"),
        },
        "general": {
            "negative": ("we are losing trust in you", "working with you has become hard",
                         "we are looking at other suppliers", "this year has been a disappointment"),
            "neutral": ("we have worked with you for {n} years", "nothing special to add",
                        "answering for the maintenance team", "it has been an ordinary year"),
            "positive": ("you are a great partner", "working with you is easy",
                         "we would recommend you to anyone", "a reliable partner year after year"),
        },
    },
    "fi": {
        "delivery": {
            "negative": ("{code}-osat tulivat {n} päivää myöhässä", "tilaus {order} toimitettiin väärälle laiturille",
                         "lähetys saapui rikkinäisillä lavoilla", "tilauksesta {order} puuttuu yhä tavaraa",
                         "toimitusaika ylittyi taas"),
            "neutral": ("tilaus {order} toimitettiin {n} päivässä", "osat tulivat kahdessa erässä",
                        "haluaisimme toimitusilmoitukset tekstiviestillä", "{code}-tilaus on tulossa ensi viikolla"),
            "positive": ("tilaus {order} tuli päivän etuajassa", "{code}-laitteiden toimitus onnistui täydellisesti",
                         "kaikki tämän kuun toimitukset tulivat ajallaan", "kuljettajanne käsitteli {code}-laitetta huolella"),
        },
        "service": {
            "negative": ("{code} vikaantuu yhä korjauksen jälkeen", "huoltokäynti peruttiin {n} kertaa",
                         "huollon {name} lähti korjaamatta vuotoa", "huolto kesti {n} tuntia sovittua kauemmin"),
            "neutral": ("{name} teki {code}-laitteen vuosihuollon", "seuraava huoltokäynti on {n} viikon päästä",
                        "asentaja vaihtoi {code}-laitteen tiivisteet", "huolto on varattu linjalle {n}"),
            "positive": ("{name} korjasi {code}-laitteen hetkessä", "huoltokäynti oli nopea ja siisti",
                         "asentajanne ratkaisi vian, jota olimme selvittäneet {n} viikkoa", "linjan {n} korjaus oli erinomainen"),
        },
        "support": {
            "negative": ("tikettiin {order} ei vastattu {n} päivään", "tukipuhelimessa jonotettiin loputtomiin",
                         "tuki sulki tapauksemme korjaamatta", "saimme tuesta {n} eri vastausta"),
            "neutral": ("lähetimme lokit tikettiin {order}", "tuki pyysi kuvia {code}-laitteesta",
                        "tiketti {order} odottaa vastaustamme", "soitimme tukeen {code}-hälytyksestä"),
            "positive": ("tuen {name} ratkaisi asian heti ensimmäisellä soitolla", "tuki vastasi muutamassa minuutissa",
                         "tuki neuvoi {code}-laitteen nollauksen täydellisesti", "saimme tuelta loistavaa apua tikettiin {order}"),
        },
        "invoicing": {
            "negative": ("lasku {order} oli taas virheellinen", "tilauksesta {order} laskutettiin kahdesti",
                         "lasku ei vastannut tarjousta", "laskuistanne puuttuu jatkuvasti viitteemme"),
            "neutral": ("lähettäkää lasku {order} verkkolaskuna", "tilauksen {order} lasku tuli tänään",
                        "laskut pitää lähettää uuteen osoitteeseemme", "tarvitsemme kopion laskusta {order}"),
            "positive": ("laskutus on ollut virheetöntä", "hyvityslasku laskuun {order} tuli nopeasti",
                         "laskut ovat selkeitä ja helppoja hyväksyä", "laskutus hoiti kysymyksemme samana päivänä"),
        },
        "onboarding": {
            "negative": ("{code}-laitteen käyttöönotto viivästyi {n} viikkoa", "kukaan ei kouluttanut operaattoreitamme",
                         "käyttöönotto oli sekasorto alusta asti", "asennusporukka jätti linjan puolivalmiiksi"),
            "neutral": ("{code}-koulutus on suunniteltu viikolle {n}", "käyttöönotto kesti {n} viikkoa",
                        "saimme {code}-laitteen käynnistyslistan", "{name} veti käyttöönottomme"),
            "positive": ("{code}-laitteen käyttöönotto sujui ongelmitta", "{name} teki käyttöönotosta helppoa",
                         "operaattorikoulutus oli erinomainen", "tuotanto käynnistyi {n} päivää asennuksen jälkeen"),
        },
        "portal": {
            "negative": ("portaali oli alhaalla {n} tuntia", "en löydä tilausta {order} portaalista",
                         "portaali on tuskastuttavan hidas", "portaali hukkasi taas tallennetun ostoskorini"),
            "neutral": ("lisätkää {name} portaalin käyttäjäksi", "käytämme portaalia laskuihin",
                        "portaalissa näkyy {n} avointa tilausta", "voiko portaalista viedä {code}-tietoja"),
            "positive": ("portaalin kautta uudelleentilaus on helppoa", "tilauksen {order} seuraaminen portaalissa oli helppoa",
                         "uusi portaali on nopea ja selkeä", "{code}-ohjeet löytyvät portaalista vaivatta"),
        },
        "sales": {
            "negative": ("myyjämme ei ole soittanut takaisin {n} viikkoon", "{code}-tarjous kesti {n} viikkoa",
                         "myynti lupasi asioita, joihin {code} ei pysty", "tarjous oli täynnä virheitä"),
            "neutral": ("{name} lähetti tarjouksen {n} laitteesta", "vertailemme {code}-tarjoustanne",
                        "myyntipalaveri on viikolla {n}", "pyydämme tarjouksen {n} lisälaitteesta"),
            "positive": ("myynnin {name} tuntee tarpeemme todella hyvin", "{code}-tarjous tuli samana päivänä",
                         "myyntitiiminne antoi rehellisiä neuvoja", "tarjous oli selkeä ja kattava"),
        },
        "quality": {
            "negative": ("{code} hajosi {n} viikon jälkeen", "venttiileistä {n} oli viallisia",
                         "{code} vuotaa öljyä", "uudet anturit heittelevät jatkuvasti"),
            "neutral": ("{code} käy {n} vuoroa viikossa", "meillä on {n} kappaletta {code}-laitteita",
                        "{code}-laitteen ohjelmisto päivitettiin", "{code} toimii määritysten mukaisesti"),
            "positive": ("{code} on käynyt {n} kuukautta ilman vikoja", "{code}-laitteen valmistuslaatu on loistava",
                         "uusi {code} on todella luotettava", "{code} pienensi energiankulutustamme selvästi"),
        },
        "price": {
            "negative": ("{code}-laitteen hinta nousi {n} prosenttia", "varaosat ovat aivan liian kalliita",
                         "huoltomaksu on kohtuuttoman korkea", "tilauksen {order} rahtimaksu oli järjetön"),
            "neutral": ("tarvitsemme ensi vuoden hinnaston", "{code}-laitteen hinta on muiden tasolla",
                        "pyydämme hinnat {n} laitteelle", "hinnat päivitettiin viikolla {n}"),
            "positive": ("{code} on hintansa arvoinen", "hinnoittelu on reilua ja selkeää",
                         "saimme tilaukseen {order} reilun alennuksen", "päivitys maksoi odotettua vähemmän"),
        },
        "general": {
            "negative": ("luottamuksemme teihin horjuu", "yhteistyö kanssanne on käynyt vaikeaksi",
                         "katselemme muita toimittajia", "tämä vuosi on ollut pettymys"),
            "neutral": ("olemme tehneet yhteistyötä {n} vuotta", "ei erityistä lisättävää",
                        "vastaan kunnossapitotiimin puolesta", "vuosi on ollut tavallinen"),
            "positive": ("olette loistava kumppani", "kanssanne on helppo tehdä töitä",
                         "suosittelisimme teitä kenelle tahansa", "luotettava kumppani vuodesta toiseen"),
        },
    },
}
OPENERS: Final[dict[str, tuple[str, ...]]] = {
    "en": ("", "", "", "Honestly, ", "Overall, ", "To be frank, ", "This quarter ", "Once again ", "In short, "),
    "fi": ("", "", "", "Rehellisesti sanottuna ", "Kaiken kaikkiaan ", "Suoraan sanottuna ", "Tällä kertaa ",
           "Jälleen kerran ", "Lyhyesti: "),
}
JOINS: Final[dict[str, tuple[str, ...]]] = {"en": (" and ", ", but ", ". Also, ", "; "),
                                            "fi": (" ja ", ", mutta ", ". Lisäksi ", "; ")}
CLOSERS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {"negative": ("", "", "Please fix this.", "Not acceptable.", "This has to improve.", "We expect better."),
           "neutral": ("", "", "", "Just for your information.", "Let us know if you need more."),
           "positive": ("", "", "Thanks!", "Keep it up.", "Great job.", "Much appreciated.")},
    "fi": {"negative": ("", "", "Korjatkaa tämä.", "Ei hyväksyttävää.", "Tähän on saatava parannus.", "Odotamme parempaa."),
           "neutral": ("", "", "", "Tiedoksi.", "Kertokaa, jos tarvitsette lisätietoja."),
           "positive": ("", "", "Kiitos!", "Jatkakaa samaan malliin.", "Hienoa työtä.", "Arvostamme tätä.")},
}
SHORT: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "en": {"negative": ("bad", "poor service", "not happy", "too slow"),
           "neutral": ("ok", "fine", "no comment", "n/a"),
           "positive": ("good", "great", "excellent service", "very good")},
    "fi": {"negative": ("huono", "huonoa palvelua", "en ole tyytyväinen", "liian hidasta"),
           "neutral": ("ok", "ihan ok", "ei kommentoitavaa", "ei mitään"),
           "positive": ("hyvä", "hienoa", "erinomaista palvelua", "tosi hyvä")},
}
NPS: Final[dict[str, tuple[tuple[int, ...], tuple[float, ...]]]] = {
    "negative": ((0, 1, 2, 3, 4, 5, 6, 7, 8), (0.04, 0.04, 0.08, 0.12, 0.16, 0.18, 0.2, 0.12, 0.06)),
    "neutral": ((5, 6, 7, 8, 9, 10), (0.08, 0.15, 0.3, 0.3, 0.12, 0.05)),
    "positive": ((6, 7, 8, 9, 10), (0.03, 0.07, 0.2, 0.35, 0.35)),
}
TOPICS: Final = tuple(MIX)


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    """One of ``options`` at random."""
    return options[int(rng.integers(len(options)))]


def _fill(template: str, rng: np.random.Generator) -> str:
    """The template with each slot replaced by a random value."""
    return template.format(**{k: _pick(v, rng) for k, v in SLOTS.items()})


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _compose(lang: str, topic: str, sentiment: str, rng: np.random.Generator) -> str:
    """One feedback text: opener, main clause, maybe a second clause, a closer, and a little noise."""
    clauses = CLAUSES[lang]
    if rng.random() < 0.1:
        return _pick(SHORT[lang][sentiment], rng)
    main = _fill(_pick(clauses[topic][sentiment], rng), rng)
    opener = _pick(OPENERS[lang], rng)
    text = opener + main if opener else _capital(main)
    if rng.random() < 0.35:
        other = TOPICS[rng.integers(len(TOPICS))]
        mood = sentiment if rng.random() < 0.6 else SENTIMENTS[rng.integers(3)]
        if mood == "neutral" or mood == sentiment:
            text += _pick(JOINS[lang], rng) + _fill(_pick(clauses[other][mood], rng), rng)
    text = text.rstrip() + ("!" if sentiment == "positive" and rng.random() < 0.3 else ".")
    closer = _pick(CLOSERS[lang][sentiment], rng)
    if closer:
        text += " " + closer
    noise = rng.random()
    if noise < 0.08:
        text = text.lower()
    elif noise < 0.16:
        text = text.rstrip(".!")
    return text


def feedback_texts(n: int, seed: int = 0, finnish: float = 0.45) -> pd.DataFrame:
    """``n`` generated texts: id, text, language, topic and sentiment (as intended), measure (nps) and score."""
    rng = np.random.default_rng(seed)
    languages = np.where(rng.random(n) < finnish, "fi", "en")
    topics = np.array(TOPICS, dtype=object)[rng.integers(len(TOPICS), size=n)]
    u = rng.random(n)
    neg = np.array([MIX[t][0] for t in topics])
    neu = np.array([MIX[t][1] for t in topics])
    sentiments = np.where(u < neg, "negative", np.where(u < neg + neu, "neutral", "positive"))
    scores = np.empty(n)
    for sentiment, (values, p) in NPS.items():
        m = sentiments == sentiment
        scores[m] = rng.choice(values, size=int(m.sum()), p=p)
    texts = [_compose(str(lang), str(topic), str(sentiment), rng)
             for lang, topic, sentiment in zip(languages, topics, sentiments, strict=True)]
    return pd.DataFrame({"id": [f"g{seed}-{i}" for i in range(n)], "text": texts, "language": languages,
                         "topic": topics, "sentiment": sentiments, "measure": "nps", "score": scores})
