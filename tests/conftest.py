"""Shared fixtures: real workspaces in temporary folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from polku import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace backed by a real DuckDB file."""
    with Workspace(tmp_path / "ws") as workspace:
        yield workspace
