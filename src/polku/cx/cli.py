"""`polku cx ...`: the CX commands, gathered from the modules that own them."""

from __future__ import annotations

import typer

cx_app = typer.Typer(no_args_is_help=True, help="Customer experience: surveys, targets, feedback text, account health.")

# Each CX module owns a Typer app of its own; add_typer without a name merges its commands here.
# (one line per module, e.g. ``cx_app.add_typer(surveys_app)``)
