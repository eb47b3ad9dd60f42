"""An in-process API client over a real workspace, with keys of each scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app


@dataclass
class Api:
    client: TestClient
    ws: Workspace
    keys: dict[str, dict[str, str]]


@pytest.fixture
def api(ws: Workspace) -> Iterator[Api]:
    keys = {scope: {"Authorization": f"Bearer {ws.create_key(scope)}"} for scope in ("read", "write", "admin")}
    with TestClient(create_app(ws, refresh_seconds=0.2)) as client:
        yield Api(client, ws, keys)
