"""Fixed word lists (names, industries, countries, titles) the generator draws from."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

INDUSTRIES: Final[tuple[str, ...]] = (
    "manufacturing",
    "logistics",
    "energy",
    "software",
    "healthcare",
    "retail",
    "construction",
)
INDUSTRY_P: Final[tuple[float, ...]] = (0.25, 0.18, 0.12, 0.12, 0.10, 0.10, 0.13)
# Six words per industry, disjoint across industries, so (stem, word) names stay unique.
INDUSTRY_WORDS: Final[tuple[tuple[str, ...], ...]] = (
    ("Manufacturing", "Machinery", "Metal", "Works", "Industries", "Components"),
    ("Logistics", "Freight", "Transport", "Cargo", "Shipping", "Terminals"),
    ("Energy", "Power", "Grid", "Heat", "Wind", "Solar"),
    ("Software", "Systems", "Digital", "Data", "Cloud", "Labs"),
    ("Health", "Care", "Medical", "Clinics", "Diagnostics", "Pharma"),
    ("Retail", "Stores", "Trading", "Market", "Wholesale", "Outlet"),
    ("Construction", "Build", "Engineering", "Concrete", "Infra", "Housing"),
)
INDUSTRY_EMPLOYEES: Final[tuple[float, ...]] = (220.0, 150.0, 300.0, 80.0, 250.0, 120.0, 110.0)

COUNTRIES: Final[tuple[str, ...]] = ("FI", "SE", "NO", "EE", "DE", "DK")
COUNTRY_P: Final[tuple[float, ...]] = (0.60, 0.14, 0.10, 0.06, 0.05, 0.05)
LEGAL_FORM: Final[tuple[str, ...]] = ("Oy", "AB", "AS", "OÜ", "GmbH", "A/S")
TLD: Final[tuple[str, ...]] = ("fi", "se", "no", "ee", "de", "dk")

LANGUAGES: Final[tuple[str, ...]] = ("fi", "en", "no", "sv")
# P(language | country), columns in LANGUAGES order.
COUNTRY_LANGUAGE_P: Final[tuple[tuple[float, ...], ...]] = (
    (0.85, 0.10, 0.00, 0.05),
    (0.00, 0.10, 0.00, 0.90),
    (0.00, 0.10, 0.90, 0.00),
    (0.00, 1.00, 0.00, 0.00),
    (0.00, 1.00, 0.00, 0.00),
    (0.00, 1.00, 0.00, 0.00),
)

# Account owners at our firm, per country.
OWNERS: Final[tuple[str, ...]] = (
    "sari@polku.example",
    "mikko@polku.example",
    "johanna@polku.example",
    "antti@polku.example",
    "erik@polku.example",
    "ingrid@polku.example",
    "thomas@polku.example",
    "laura@polku.example",
)
COUNTRY_OWNERS: Final[tuple[tuple[int, ...], ...]] = ((0, 1, 2, 3), (4,), (5,), (6, 7), (6, 7), (7,))

STEMS: Final[tuple[str, ...]] = (
    "Kivi", "Mäki", "Virta", "Koski", "Lahti", "Järvi", "Salo", "Niemi", "Harju", "Kallio",
    "Aalto", "Laine", "Heino", "Rinne", "Vuori", "Karhu", "Kotka", "Haapa", "Koivu", "Tammi",
    "Kuusi", "Pihla", "Leppä", "Vaahtera", "Saari", "Ranta", "Lehto", "Mänty", "Kangas", "Suo",
    "Routa", "Tuuli", "Valo", "Kaski", "Pohja", "Itä", "Länsi", "Etelä", "Nordia", "Kaleva",
    "Sampo", "Ilmari", "Tapio", "Otso", "Kuura", "Hiili", "Rauta", "Teräs", "Kupari", "Pajari",
    "Uusi", "Vilja", "Halla", "Helle", "Lumi", "Kide", "Aura", "Berg", "Dahl", "Lund",
    "Nord", "Strand", "Fjell", "Holm", "Skog", "Ek", "Sjö", "Borg", "Hav", "Ström",
    "Lind", "Alm", "Björk", "Åker", "Sund", "Bro", "Hamn", "Ask", "Granit", "Kvarts",
    "Polar", "Arktis", "Boreal", "Aurora", "Vega", "Orion", "Nova", "Delta", "Sigma", "Zenit",
    "Vektor", "Merta", "Hirvi", "Ilves", "Kontio", "Susi", "Kettu", "Joutsen", "Kurki", "Haukka",
)
STEM_ENDINGS: Final[tuple[str, ...]] = (
    "koski", "lahti", "järvi", "mäki", "niemi", "saari", "vaara", "harju", "ranta", "kangas",
    "linna", "puro", "salo", "lehto", "joki", "vuori", "nummi", "aho", "pelto", "kallio",
    "berg", "dal", "vik", "holm", "lund", "ström", "by", "sund", "näs", "fors",
    "tec", "tron", "la", "nen", "mark", "gard", "stad", "tek", "flow", "line",
)

FIRST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "fi": (
        "Anna", "Sari", "Mikko", "Juha", "Timo", "Laura", "Heikki", "Pekka", "Kaisa", "Jari",
        "Minna", "Ville", "Antti", "Johanna", "Tiina", "Matti", "Hanna", "Petri", "Riikka", "Jukka",
        "Elina", "Sami", "Marja", "Tuomas", "Noora", "Janne", "Katja", "Olli", "Aino", "Eero",
    ),
    "sv": (
        "Erik", "Anna", "Lars", "Karin", "Johan", "Maria", "Anders", "Eva", "Per", "Sofia",
        "Magnus", "Emma", "Fredrik", "Linnea", "Henrik", "Ida", "Oskar", "Elin", "Gustav", "Maja",
    ),
    "no": (
        "Ole", "Ingrid", "Kari", "Bjørn", "Nora", "Lars", "Hilde", "Sindre", "Marit", "Even",
        "Silje", "Håkon", "Ragnhild", "Tor", "Eirik", "Solveig", "Kristian", "Liv", "Magnus", "Astrid",
    ),
    "en": (
        "James", "Emily", "Thomas", "Laura", "Daniel", "Sarah", "Michael", "Julia", "Peter", "Anna",
        "Markus", "Katrin", "Jonas", "Lena", "Martin", "Eva", "Andres", "Kadri", "Søren", "Mette",
    ),
}
LAST_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "fi": (
        "Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen",
        "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi",
        "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen", "Tuominen", "Rantanen",
        "Karjalainen", "Jokinen", "Mattila", "Savolainen", "Lahtinen", "Ahonen",
    ),
    "sv": (
        "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
        "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Lindberg", "Lindström", "Berg", "Holm",
        "Ekström", "Sandberg", "Forsberg", "Lund",
    ),
    "no": (
        "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
        "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
        "Johannessen", "Andreassen", "Jacobsen", "Dahl",
    ),
    "en": (
        "Smith", "Müller", "Schmidt", "Tamm", "Saar", "Sepp", "Nielsen", "Jensen", "Wagner", "Becker",
        "Brown", "Taylor", "Fischer", "Weber", "Kask", "Rebane", "Madsen", "Schulz", "Hoffmann", "Clark",
    ),
}

FREEMAIL_DOMAINS: Final[tuple[str, ...]] = ("gmail.com", "outlook.com", "yahoo.com")

# Titles per org level (executive, management, operational) and for purchasers.
TITLES: Final[dict[str, tuple[str, ...]]] = {
    "executive": (
        "CEO", "CFO", "COO", "CTO", "Managing Director", "VP Operations", "Chief Digital Officer",
    ),
    "management": (
        "Operations Manager", "IT Manager", "Production Manager", "Head of Maintenance",
        "Logistics Manager", "Quality Manager", "Development Manager", "Service Manager",
    ),
    "operational": (
        "Maintenance Engineer", "Service Technician", "Production Planner", "Analyst",
        "Specialist", "Coordinator", "Operator", "Field Engineer",
    ),
    "purchaser": ("Procurement Manager", "Purchasing Manager", "Buyer", "Category Manager"),
}

_FOLD = str.maketrans({"ä": "a", "ö": "o", "å": "a", "ø": "o", "ü": "u", "æ": "ae", "ß": "ss"})
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, sep: str = "-") -> str:
    """ASCII, lower-case, separator-joined form of a name, for domains and e-mail locals."""
    folded = text.lower().translate(_FOLD)
    folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub(sep, folded).strip(sep)
