"""config.toml: defaults, paths, and bad values refused with the key named (exit 2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import Project

from scheduler.config import load_settings
from scheduler.dates.cron import next_fire_times
from scheduler.errors import ConfigError


def test_packaged_defaults_without_a_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SISTERCITY_CONFIG", raising=False)
    settings = load_settings(None)
    assert settings.path is None
    assert settings.database_url == "sqlite:///" + str(tmp_path / "var" / "sistercity.db")
    assert settings.email.outbox_dir == tmp_path / "var" / "mail"
    assert settings.data_files[0].name == "chiang-mai.toml" and settings.data_files[0].is_file()
    assert settings.jobs.deadline_lead_days == (60, 30, 7, 1, 0)
    assert settings.schedule["budget-deadlines"] == "0 8 * * 1-5"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "config.toml").write_text('[data]\nfiles = ["d.toml"]\n[email]\noutbox_dir = "m"\n')
    settings = load_settings(str(folder / "config.toml"))
    assert settings.data_files == (folder / "d.toml",)
    assert settings.email.outbox_dir == folder / "m"
    assert settings.database_url == "sqlite:///" + str(folder / "var" / "sistercity.db")


def test_environment_variable_names_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text('[scheduler]\ntimezone = "Asia/Tokyo"\n')
    monkeypatch.setenv("SISTERCITY_CONFIG", str(cfg))
    monkeypatch.chdir(tmp_path)
    assert load_settings(None).timezone == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[smtp]\nport = "abc"', 'config.toml: smtp.port: expected an integer ≥ 1, got "abc"'),
        ("[smtp]\nport = 70000", "smtp.port: expected a port number 1–65535, got 70000"),
        (
            '[email]\ntransport = "pigeon"',
            'email.transport: expected "file" or "smtp", got "pigeon"',
        ),
        (
            '[scheduler]\ntimezone = "Mars/Olympus"',
            'scheduler.timezone: unknown time zone "Mars/Olympus"',
        ),
        ('[schedule]\nanniversaries = "every day"', "schedule.anniversaries: "),
        ('[schedule]\nanniversaries = "0 25 * * *"', "hour: 25 is outside 0–23"),
        (
            "[jobs.anniversaries]\nlead_days = [30, -1]",
            "jobs.anniversaries.lead_days: expected a non-empty",
        ),
        ('[database]\nurl = "mysql://x"', 'database.url: unsupported database "mysql://x"'),
        ("[smtp]\nprot = 25", "smtp.prot: unknown key"),
        (
            "[smtp]\nhost = 2020-01-01T08:00:00",
            "smtp.host: expected a string, got the date-time 2020-01-01T08:00:00",
        ),
        ("[jobs]\nanniversaries = 5", "jobs.anniversaries: expected a table, got 5"),
        ("[jobs]\nfrobnicate = 5", "jobs.frobnicate: unknown key"),
        ("[smpt]\nport = 25", "smpt: unknown section"),
        ('[smtp]\npassword = "hunter2"', "smtp.password: the password is never kept in the file"),
        ("[smtp\nport = 25", "config.toml: not valid TOML"),
        (
            "[scheduler]\nextra_holidays = [2569-12-30]",
            "scheduler.extra_holidays: 2569-12-30 looks like a Buddhist-Era date; write 2026-12-30",
        ),
        (
            "[scheduler]\nextra_working_days = [2569-06-01]",
            "scheduler.extra_working_days: 2569-06-01 looks like a Buddhist-Era date; write",
        ),
    ],
)
def test_bad_config_values_name_the_key(project: Project, toml: str, expected: str) -> None:
    project.config.write_text(toml + "\n", encoding="utf-8")
    result = project.cli("status")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
    assert not project.db_path.exists()


def test_every_problem_is_listed_at_once(project: Project) -> None:
    project.config.write_text('[smtp]\nport = "x"\nmax_connections = 0\n[email]\ntransport = 1\n')
    result = project.cli("status")
    assert result.exit_code == 2
    for key in ("smtp.port", "smtp.max_connections", "email.transport"):
        assert key in result.stderr


def test_missing_config_file_is_a_clear_error(project: Project) -> None:
    project.config.unlink()
    result = project.cli("status")
    assert result.exit_code == 2
    assert "cannot read the config file" in result.stderr


MON_TO_FRI = "0 8 * * 1-5"


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # Thursday 2026-11-26 07:00 → Thu, Fri, then Mon (crontab 1-5 is Monday to Friday)
        (
            MON_TO_FRI,
            dt.datetime(2026, 11, 26, 7, 0),
            ["2026-11-26 08:00 Thu", "2026-11-27 08:00 Fri", "2026-11-30 08:00 Mon"],
        ),
        (
            "0 9 * * 1",
            dt.datetime(2026, 11, 25, 12),
            ["2026-11-30 09:00 Mon", "2026-12-07 09:00 Mon"],
        ),
        ("30 6 * * 0", dt.datetime(2026, 11, 25), ["2026-11-29 06:30 Sun", "2026-12-06 06:30 Sun"]),
        ("30 6 * * 7", dt.datetime(2026, 11, 25), ["2026-11-29 06:30 Sun", "2026-12-06 06:30 Sun"]),
        # both day fields restricted: crontab fires on either
        (
            "0 7 1 * 5",
            dt.datetime(2026, 11, 25),
            ["2026-11-27 07:00 Fri", "2026-12-01 07:00 Tue", "2026-12-04 07:00 Fri"],
        ),
    ],
)
def test_crontab_meaning_of_days(expr: str, after: dt.datetime, expected: list[str]) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Bangkok")
    times = next_fire_times(expr, tz, after.replace(tzinfo=tz), len(expected))
    assert [t.strftime("%Y-%m-%d %H:%M %a") for t in times] == expected
    assert all(t.utcoffset() == dt.timedelta(hours=7) for t in times)


def test_config_error_type() -> None:
    with pytest.raises(ConfigError):
        load_settings("/nonexistent/config.toml")
