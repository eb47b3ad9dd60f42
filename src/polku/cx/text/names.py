"""Names and defaults shared by the text modules and the thin CLI and API (imports nothing heavy)."""

from __future__ import annotations

from typing import Final

MODELS: Final[dict[str, str]] = {
    "auto": "e5 for up to --sample distinct texts, the fast model distilled from e5's labels beyond them",
    "e5": "logistic regression over multilingual-e5-small embeddings (most accurate, slowest)",
    "fast": "logistic regression over hashed words and character 5-grams (fastest, least accurate)",
    "vader": "VADER's English lexicon (the baseline; English texts only)",
}
DEFAULT_SAMPLE: Final = 2000  # distinct texts that e5 embeds under ``auto``
