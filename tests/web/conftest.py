"""A simulated world imported into workspaces with users of each role, and a signed-in test client."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from polku import Workspace
from polku.api import create_app
from polku.sim import generate, write_world
from polku.web import users

PASSWORD = "correct horse battery"
ROLES = {"ann": "admin", "mark": "marketer", "vic": "viewer"}


@pytest.fixture(scope="session")
def world_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace (never opened by tests directly: each test copies it) of 30 simulated accounts."""
    base = tmp_path_factory.mktemp("web-world")
    files = write_world(generate(30, seed=11, events_per_account=120), base / "sim")
    home = base / "ws"
    with Workspace(home) as ws:
        ws.import_accounts(files["accounts"])
        ws.import_contacts(files["contacts"])
        ws.import_events(files["events"])
        ws.refresh()
        for name, role in ROLES.items():
            users.create_user(ws.store, name, role, PASSWORD)
    return home


def copy_home(world_home: Path, target: Path) -> Path:
    """A private copy of the world's workspace folder."""
    shutil.copytree(world_home, target)
    return target


@dataclass
class Web:
    """A test client over a workspace, and the workspace itself."""

    client: TestClient
    ws: Workspace

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        """Sign in through the form, as a browser would."""
        form = self.client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        r = self.client.post("/login", data={"name": name, "password": password, "csrf": token.group(1)},
                             follow_redirects=False)
        assert r.status_code == 303, r.text

    def csrf(self) -> str:
        """The CSRF token of the signed-in session (from any page's sign-out form)."""
        token = re.search(r'name="csrf" value="([^"]+)"', self.client.get("/overview").text)
        assert token
        return token.group(1)


@pytest.fixture(scope="module")
def module_web(world_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """One app per test module over its own copy of the world (tests may sign in and out)."""
    home = copy_home(world_home, tmp_path_factory.mktemp("web-module") / "ws")
    with Workspace(home) as ws, TestClient(create_app(ws, refresh_seconds=0.2)) as client:
        yield Web(client, ws)


@pytest.fixture
def web(module_web: Web) -> Iterator[Web]:
    """The module's app with a clean cookie jar for each test."""
    module_web.client.cookies.clear()
    yield module_web
    module_web.client.cookies.clear()
