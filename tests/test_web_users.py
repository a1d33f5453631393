"""`sistercity user add | list | remove` (SPEC "The office web app"): accounts with argon2id
passwords, audited; bad input exits 2 and stores nothing."""

from __future__ import annotations

import sqlite3

from conftest import Project

from scheduler.db.database import Database
from scheduler.services.users import authenticate


def _rows(project: Project, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(project.db_path) as conn:
        return list(conn.execute(sql))


def test_add_reads_one_line_of_stdin_and_stores_an_argon2id_hash(project: Project) -> None:
    done = project.cli("user", "add", "Somchai@Example.org", "--name", "Somchai",
                       "--role", "admin", "--language", "en", input="s3cret pass\nignored\n")
    assert done.exit_code == 0, done.output
    assert "added: somchai@example.org (admin, en)" in done.output
    [(email, role, language, hashed)] = _rows(
        project, "SELECT email, role, language, password_hash FROM accounts")
    assert (email, role, language) == ("somchai@example.org", "admin", "en")
    assert str(hashed).startswith("$argon2id$") and "s3cret" not in str(hashed)
    db = Database(f"sqlite:///{project.db_path}")
    assert authenticate(db, "SOMCHAI@example.org", "s3cret pass") is not None
    assert authenticate(db, "somchai@example.org", "s3cret pass\n") is None
    assert authenticate(db, "nobody@example.org", "s3cret pass") is None
    # audited through the same log as registry changes, without the password
    [(who, action, target, details)] = _rows(
        project, "SELECT who, action, target, details FROM audit WHERE action = 'add-account'")
    assert (who, action, target) == ("cli", "add-account", "somchai@example.org")
    assert "s3cret" not in str(details)


def test_defaults_are_staff_and_thai_and_list_shows_them(project: Project) -> None:
    assert project.cli("user", "add", "a@example.org", "--name", "A", input="pw\n").exit_code == 0
    listed = project.cli("user", "list")
    assert listed.exit_code == 0
    line = next(x for x in listed.output.splitlines() if "a@example.org" in x)
    assert "staff" in line and "th" in line


def test_bad_email_role_or_language_exits_2_and_stores_nothing(project: Project) -> None:
    for args, word in ((("not-an-email", "--name", "X"), "EMAIL"),
                       (("x@example.org", "--name", "X", "--role", "boss"), "--role"),
                       (("x@example.org", "--name", "X", "--language", "fr"), "--language")):
        done = project.cli("user", "add", *args, input="pw\n")
        assert done.exit_code == 2, done.output
        assert word in done.output and "Traceback" not in done.output
    project.cli("status")  # the database exists
    assert _rows(project, "SELECT count(*) FROM accounts") == [(0,)]


def test_empty_password_and_duplicate_are_refused(project: Project) -> None:
    assert project.cli("user", "add", "a@example.org", "--name", "A", input="\n").exit_code == 2
    assert project.cli("user", "add", "a@example.org", "--name", "A", input="pw\n").exit_code == 0
    again = project.cli("user", "add", "A@example.org", "--name", "B", input="pw2\n")
    assert again.exit_code == 2 and "exists already" in again.output


def test_remove_deletes_the_account_and_audits_it(project: Project) -> None:
    project.cli("user", "add", "a@example.org", "--name", "A", input="pw\n")
    done = project.cli("user", "remove", "a@example.org")
    assert done.exit_code == 0 and "removed: a@example.org" in done.output
    assert _rows(project, "SELECT count(*) FROM accounts") == [(0,)]
    assert _rows(project, "SELECT who, target FROM audit WHERE action = 'remove-account'") == [
        ("cli", "a@example.org")]
    missing = project.cli("user", "remove", "a@example.org")
    assert missing.exit_code == 2 and "no such account" in missing.output


def test_web_without_the_secret_exits_2_naming_the_variable(project: Project) -> None:
    project.monkeypatch.delenv("SISTERCITY_WEB_SECRET", raising=False)
    done = project.cli("web", "--port", "1")
    assert done.exit_code == 2
    assert "SISTERCITY_WEB_SECRET" in done.output and "Traceback" not in done.output
    project.write_config(web={"secret_env": "OFFICE_KEY"})
    project.monkeypatch.delenv("OFFICE_KEY", raising=False)
    done = project.cli("web")
    assert done.exit_code == 2 and "OFFICE_KEY" in done.output
