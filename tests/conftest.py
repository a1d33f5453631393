"""Shared fixtures: a project folder with its own config.toml, the CLI run in-process, and a
real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from smtpserver import SmtpTestServer, running_smtp_server

from scheduler.cli.app import cli

TEST_DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


@dataclass
class Project:
    """A folder with a config.toml; `sistercity` commands run against it."""

    root: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def db_path(self) -> Path:
        return self.root / "var" / "sistercity.db"

    @property
    def mail_dir(self) -> Path:
        return self.root / "var" / "mail"

    def write_config(self, **sections: dict[str, Any]) -> None:
        base: dict[str, dict[str, Any]] = {
            "database": {"url": "sqlite:///var/sistercity.db"},
            "data": {"files": [str(TEST_DATA / "testcity.toml")]},
            "email": {"transport": "file", "outbox_dir": "var/mail"},
            "smtp": {"retry_initial_seconds": 60},
        }
        for name, values in sections.items():
            base.setdefault(name.replace("__", "."), {}).update(values)
        lines = []
        for name, values in base.items():
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
            lines.append("")
        self.config.write_text("\n".join(lines), encoding="utf-8")

    def use_smtp(self, server: SmtpTestServer, **smtp: Any) -> None:
        self.write_config(
            email={"transport": "smtp"}, smtp={"host": server.host, "port": server.port, **smtp}
        )

    def cli(self, *args: str, input: str | None = None) -> Result:
        self.monkeypatch.chdir(self.root)
        runner = CliRunner()
        return runner.invoke(
            cli, ["--config", str(self.config), *args], input=input, catch_exceptions=False
        )

    def eml_files(self) -> list[EmailMessage]:
        if not self.mail_dir.exists():
            return []
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.mail_dir.glob("*.eml"))
        ]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.delenv("SISTERCITY_CONFIG", raising=False)
    p = Project(tmp_path, monkeypatch)
    p.write_config()
    return p


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    with running_smtp_server() as server:
        yield server


def body_text(msg: EmailMessage) -> str:
    """The text part as a reader reads it: no-break spaces (dates, numbers with their units)
    read as spaces."""
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\xa0", " ")


def pg_url() -> str:
    url = os.environ.get("SISTERCITY_TEST_PG_URL")
    if not url:
        pytest.skip("SISTERCITY_TEST_PG_URL is not set: PostgreSQL tests need a server")
    return url
