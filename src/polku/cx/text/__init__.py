"""Feedback text: sentiment and topics of survey comments and ticket texts, offline, in English and Finnish.

    from polku.cx.text.analyse import analyse    # the pure core: a frame of texts -> an Analysis
    from polku.cx.text.report import report      # an Analysis -> the topic report
    from polku.cx.text import feedback, score_texts
    feedback(ws)                                 # the report over a workspace's comments and tickets
    score_texts(["Lasku oli taas väärin."])      # a few texts -> label, score in [-1, 1], theme

The names here load their modules on first use, so importing the package (as the CLI does)
stays cheap. ``analyse`` and ``report`` are the names of both a module and its function, so
they are imported from their modules rather than from the package.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Analysis", "feedback", "feedback_frame", "score_texts"]
_HOME = {"Analysis": "analyse", "feedback": "ops", "score_texts": "ops", "feedback_frame": "sources"}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
