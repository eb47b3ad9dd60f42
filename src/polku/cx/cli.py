"""`polku cx ...`: the CX commands, gathered from the modules that own them."""

from __future__ import annotations

import typer

from polku.cx.cli_measure import measure_app
from polku.cx.cli_surveys import surveys_app
from polku.cx.cli_text import text_app

cx_app = typer.Typer(no_args_is_help=True, help="Customer experience: surveys, targets, feedback text, account health.")

# Each CX module owns a Typer app of its own; add_typer without a name merges its commands here.
# (one line per module, e.g. ``cx_app.add_typer(surveys_app)``)
cx_app.add_typer(surveys_app)
cx_app.add_typer(measure_app)
cx_app.add_typer(text_app)
