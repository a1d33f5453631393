"""The web app against a test project: accounts made through the CLI, a clock the tests move,
and helpers to sign in and read a form's CSRF token."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from dataclasses import dataclass, field

from conftest import Project
from starlette.applications import Starlette
from starlette.testclient import TestClient

from scheduler.config import load_settings
from scheduler.registry.bootstrap import open_database
from scheduler.web.app import create_app

SECRET = "test-signing-key-" + "k" * 32
PASSWORD = "correct horse battery"
START = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 09:00 in Bangkok, a Monday
ACCOUNTS = {"admin@example.org": ("admin", "en"), "staff@example.org": ("staff", "en"),
            "viewer@example.org": ("viewer", "en"), "thai@example.org": ("staff", "th")}


@dataclass
class Clock:
    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class WebEnv:
    project: Project
    app: Starlette
    clock: Clock = field(default_factory=Clock)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.project.db_path) as conn:
            return list(conn.execute(sql))


def make_web(project: Project, **config: dict[str, object]) -> WebEnv:
    """Accounts added with `sistercity user add`, then the app over the project's database."""
    if config:
        project.write_config(**config)
    for email, (role, language) in ACCOUNTS.items():
        done = project.cli("user", "add", email, "--name", email.split("@")[0].title(),
                           "--role", role, "--language", language, input=PASSWORD + "\n")
        assert done.exit_code == 0, done.output
    settings = load_settings(str(project.config))
    db = open_database(settings, bootstrap=True, upgrade=False, today=START.date())
    clock = Clock()
    return WebEnv(project, create_app(settings, db, secret=SECRET, clock=clock), clock)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in; returns the CSRF token of the signed-in session."""
    token = csrf_of(client.get("/").text)
    done = client.post("/login", data={"csrf": token, "email": email, "password": password})
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    return csrf_of(client.get("/").text)
