"""Errors of scoring, under polku's tree:

    PolkuError
    └── InvalidInput (422)
        ├── NotEnoughHistory (422)   too little history to train a meaningful model
        └── ModelFileError (422)     a saved model that cannot be used here
"""

from __future__ import annotations

from polku.errors import InvalidInput


class NotEnoughHistory(InvalidInput):
    """Training refused: too few positive examples, or too short a history, to learn from."""

    code = "not_enough_history"


class ModelFileError(InvalidInput):
    """A saved model file is not one this version can load."""

    code = "model_file_error"
