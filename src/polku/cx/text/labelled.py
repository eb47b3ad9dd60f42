"""The labelled feedback sentences shipped with Polku: a training set, a held-out test set and tickets.

Written by hand for B2B customer feedback (delivery, service, support, invoicing, onboarding,
portal, sales, product quality, price, general) in English and Finnish; each sentence has a
sentiment label and a topic. The test set was written apart from the training set (different
situations, not paraphrases) and is only ever used to measure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final, Literal

LABELS: Final[tuple[str, ...]] = ("negative", "neutral", "positive")
TOPICS: Final[tuple[str, ...]] = (
    "delivery", "service", "support", "invoicing", "onboarding", "portal", "sales", "quality", "price", "general",
)
Split = Literal["train", "test"]
DATA: Final = Path(str(resources.files("polku.cx") / "data"))


@dataclass(frozen=True)
class Example:
    """One labelled sentence: its text, language, sentiment label and topic."""

    id: str
    text: str
    language: str
    label: str
    topic: str


@dataclass(frozen=True)
class Ticket:
    """A ticket-like text (subject and description) with its sentiment label and topic."""

    id: str
    subject: str
    description: str
    language: str
    label: str
    topic: str

    @property
    def text(self) -> str:
        """Subject and description as one text, the way tickets are read from the workspace."""
        return f"{self.subject}. {self.description}"


def _records(name: str) -> list[dict[str, str]]:
    """The JSON objects of one shipped JSONL file; a malformed line names the file and line."""
    path = DATA / name
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from exc
        if record.get("label") not in LABELS or record.get("topic") not in TOPICS:
            raise ValueError(f"{path}:{number}: label must be one of {LABELS} and topic one of {TOPICS}")
        out.append(record)
    return out


@cache
def examples(split: Split) -> tuple[Example, ...]:
    """The labelled sentences of ``split`` (``train`` or ``test``), in file order."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return tuple(Example(r["id"], r["text"], r["language"], r["label"], r["topic"])
                 for r in _records(f"feedback_{split}.jsonl"))


@cache
def tickets() -> tuple[Ticket, ...]:
    """The shipped ticket-like texts."""
    return tuple(Ticket(r["id"], r["subject"], r["description"], r["language"], r["label"], r["topic"])
                 for r in _records("tickets.jsonl"))
