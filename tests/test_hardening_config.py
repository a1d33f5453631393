"""Issue 12, fault 7: a config that passed validation and then failed at every run is now
refused when it is loaded, with the key named; and any config that is accepted runs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import TEST_DATA, Project, _toml_value
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scheduler.cli.app import cli
from scheduler.config import (
    MAX_ATTEMPTS,
    MAX_CONNECTIONS,
    MAX_DAYS,
    MAX_TIMEOUT_SECONDS,
    MAX_YEARS,
    WEEK_SECONDS,
    load_settings,
)
from scheduler.errors import ConfigError


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        ("email", {"from": "Office <in tl@example.org>"}, "email.from: expected"),
        ("email", {"from": "Office <intl@exämple.org>"}, "email.from: expected"),
        ("email", {"from": "a@example.org, b@example.org"}, "email.from: expected"),
        ("email", {"from": "Office <intl@example.org> trailing"}, "email.from: expected"),
        ("email", {"from": "Team: Office <intl@example.org>;"}, "email.from: expected"),
        ("email", {"from": ":;0"}, "email.from: expected"),
        ("email", {"templates_dir": "no-such-folder"}, "email.templates_dir: no such folder"),
        ("smtp", {"cafile": "missing-ca.pem"}, "smtp.cafile: no such file"),
        ("jobs.anniversaries", {"lead_days": [3000000]},
         f"jobs.anniversaries.lead_days: expected a non-empty list of whole days 0–{MAX_DAYS}"),
        ("jobs.dormant-partners", {"after_days": 10**12}, "jobs.dormant-partners.after_days"),
        ("jobs.meeting-agendas", {"horizon_days": 10**9}, "jobs.meeting-agendas.horizon_days"),
        ("smtp", {"retry_max_seconds": 10**15},
         f"smtp.retry_max_seconds: expected an integer from 0 to {WEEK_SECONDS}"),
        ("smtp", {"retry_initial_seconds": 10**15}, "smtp.retry_initial_seconds"),
        ("smtp", {"timeout_seconds": 10**9}, "smtp.timeout_seconds"),
        ("smtp", {"max_connections": 100000}, "smtp.max_connections"),
        ("smtp", {"max_attempts": 10**6}, "smtp.max_attempts"),
        ("smtp", {"claim_timeout_seconds": 10**12}, "smtp.claim_timeout_seconds"),
        ("smtp", {"username": "intl"}, 'smtp.username: with security = "none" the password'),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else "",
)
def test_a_config_that_would_fail_at_every_run_is_refused_at_load(
    project: Project, section: str, values: dict[str, Any], expected: str
) -> None:
    project.write_config(**{section: values})
    result = project.cli("run", "--dry-run", "--as-of", "2017-11-01")
    assert result.exit_code == 2, result.output
    assert f"config.toml: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not project.db_path.exists()


def test_clear_text_auth_is_allowed_only_when_asked_for(project: Project) -> None:
    project.write_config(smtp={"username": "intl", "allow_plaintext_auth": True})
    assert load_settings(str(project.config)).smtp.allow_plaintext_auth
    project.write_config(smtp={"username": "intl", "security": "starttls"})
    assert load_settings(str(project.config)).smtp.username == "intl"


def test_existing_cafile_and_templates_dir_are_accepted(project: Project) -> None:
    (project.root / "ca.pem").write_text("not checked here: the TLS layer reads it\n")
    (project.root / "mail-templates").mkdir()
    project.write_config(
        smtp={"cafile": "ca.pem"},
        email={"templates_dir": "mail-templates", "from": '"Intl, Office" <intl@example.org>'},
    )
    settings = load_settings(str(project.config))
    assert settings.smtp.cafile == project.root / "ca.pem"
    assert settings.email.templates_dir == project.root / "mail-templates"


# -- any accepted config runs ----------------------------------------------------------------
#: Every bounded number of the config: (section, key, upper bound).
NUMBERS = [
    ("smtp", "port", 65535),
    ("smtp", "timeout_seconds", MAX_TIMEOUT_SECONDS),
    ("smtp", "max_connections", MAX_CONNECTIONS),
    ("smtp", "max_attempts", MAX_ATTEMPTS),
    ("smtp", "retry_initial_seconds", WEEK_SECONDS),
    ("smtp", "retry_max_seconds", WEEK_SECONDS),
    ("smtp", "claim_timeout_seconds", WEEK_SECONDS),
    ("jobs.dormant-partners", "after_days", MAX_DAYS),
    ("jobs.dormant-partners", "repeat_days", MAX_DAYS),
    ("jobs.meeting-agendas", "horizon_days", MAX_DAYS),
    ("jobs.meeting-agendas", "loi_review_years", MAX_YEARS),
]
LEAD_DAYS = ["jobs.anniversaries", "jobs.budget-deadlines", "jobs.meeting-agendas"]


def inside(bound: int) -> st.SearchStrategy[int]:
    """Integers in [0, bound], its edges included."""
    return st.integers(0, bound) | st.sampled_from([0, 1, bound - 1, bound])


@st.composite
def config_values(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """Sections of a config: numbers inside their bounds (some left out), smtp choices, and
    now and then one number just or far outside its bound."""
    sections: dict[str, dict[str, Any]] = {"smtp": {}}
    for section, key, bound in NUMBERS:
        if draw(st.booleans()):
            sections.setdefault(section, {})[key] = draw(inside(bound))
    for section in LEAD_DAYS:
        if draw(st.booleans()):
            days = draw(st.lists(inside(MAX_DAYS), min_size=1, max_size=3))
            sections.setdefault(section, {})["lead_days"] = days
    sections["smtp"]["security"] = draw(st.sampled_from(["none", "starttls", "tls"]))
    sections["smtp"]["username"] = draw(st.sampled_from(["", "intl"]))
    sections["smtp"]["allow_plaintext_auth"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        lead_days = [(name, "lead_days", MAX_DAYS) for name in LEAD_DAYS]
        section, key, bound = draw(st.sampled_from(NUMBERS + lead_days))
        value = draw(st.sampled_from([-1, bound + 1, 10**9, 2**63]))
        sections.setdefault(section, {})[key] = [value] if key == "lead_days" else value
    return sections


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=config_values())
def test_any_config_load_settings_accepts_runs_dry(values: dict[str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sections = {
            "data": {"files": [str(TEST_DATA / "testcity.toml")]},
            "email": {"transport": "smtp"},
            **values,
        }
        lines = []
        for name, table in sections.items():
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
        (root / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            load_settings(str(root / "config.toml"))
        except ConfigError:
            event("refused")
            return
        event("accepted")
        result = CliRunner().invoke(
            cli,
            ["--config", str(root / "config.toml"), "run", "--dry-run", "--as-of", "2017-11-01"],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
