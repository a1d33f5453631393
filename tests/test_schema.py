"""Schema versions: the code's expected head is the migrations' head; an older database is
upgraded by `init` without losing data; a newer one is refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import Project
from sqlalchemy import create_engine, text
from test_postgres import pg_database

import scheduler.db.database
from scheduler.db.database import KNOWN_REVISIONS, SCHEMA_REVISION

__all__ = ["pg_database"]  # the fixture, shared with test_postgres.py


def alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(scheduler.db.database.__file__).parent / "migrations")
    )
    return config


def test_code_expects_the_migrations_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == SCHEMA_REVISION
    assert {r.revision for r in script.walk_revisions()} == set(KNOWN_REVISIONS)


def test_init_upgrades_a_database_made_by_the_first_version(project: Project) -> None:
    project.db_path.parent.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{project.db_path}")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    with sqlite3.connect(project.db_path) as conn:
        conn.execute(
            "INSERT INTO partners (id, name, name_th, country, city) "
            "VALUES ('old', 'Old Town', '', 'JP', '')"
        )
        conn.execute(
            'INSERT INTO runs (job, as_of, "trigger", started_at, notices, queued, '
            "outcome) VALUES ('anniversaries', '2018-01-01', 'manual', "
            "'2018-01-01 00:00:00', 1, 1, 'ok')"
        )
        conn.execute("INSERT INTO messages (job, recipient, language, subject, message_id, "
                     "sender, data, state, attempts, next_attempt_at, created_at) VALUES "
                     "('anniversaries', 'a@example.org', 'en', 'S', '<m1@example.org>', "
                     "'intl@example.org', X'48656C6C6F', 'pending', 0, "
                     "'2018-01-01 00:00:00', '2018-01-01 00:00:00')")
        conn.execute("INSERT INTO notices (job, item, occurrence, stage, recipient, as_of, "
                     "message_id) VALUES ('anniversaries', 'old/mou', '2018-01-08', 7, "
                     "'a@example.org', '2018-01-01', 1)")
    refused = project.cli("partners", "--json")
    assert refused.exit_code == 2
    assert "older version" in refused.stderr and "sistercity init" in refused.stderr
    upgraded = project.cli("init")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "schema upgraded" in upgraded.stdout
    listed = project.cli("partners", "--json")
    assert listed.exit_code == 0
    assert '"old"' in listed.stdout  # the data survived; no dataset was loaded over it
    with sqlite3.connect(project.db_path) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert version == SCHEMA_REVISION
        assert conn.execute("SELECT queued, sent, failed FROM runs").fetchone() == (1, 0, 0)
        # the queued message kept its body, now in a table of its own
        assert conn.execute("SELECT m.recipient, b.data FROM messages m JOIN message_bodies b "
                            "ON b.message_id = m.id").fetchall() == [("a@example.org", b"Hello")]
        assert conn.execute("SELECT count(*) FROM notices WHERE message_id = 1").fetchone() == (1,)


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from scheduler.db.models import Base

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _carry_0003_forward(project: Project, url: str) -> None:
    """Migration 0005 on `url`: ids derived for the agreements and activities already stored,
    the "loaded once" mark set (the configured dataset is not loaded over the old registry),
    and the audit log ready for the first correction."""
    project.write_config(database={"url": url})
    engine = create_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO partners (id, name, name_th, country, city) "
                          "VALUES ('old', 'Old Town', '', 'JP', '')"))
        for party in ("Chiang Mai Province", "Chiang Mai University"):
            conn.execute(text(
                "INSERT INTO agreements (partner_id, kind, signed_on, local_party, areas, "
                "title, contact_person, contact_email, notes) VALUES ('old', 'mou', "
                "'2015-03-30', :party, '[]', '', '', '', '')"), {"party": party})
        conn.execute(text("INSERT INTO activities (partner_id, date, title, kind) "
                          "VALUES ('old', '2017-07-01', 'Trade visit', 'visit')"))
    upgraded = project.cli("init")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert "1 partners" in upgraded.stdout  # the configured test dataset was not loaded
    with engine.connect() as conn:
        def rows(sql: str) -> list[tuple[object, ...]]:
            return [tuple(r) for r in conn.execute(text(sql))]

        assert rows("SELECT local_party, ref FROM agreements ORDER BY id") == [
            ("Chiang Mai Province", "mou-2015-03-30"),
            ("Chiang Mai University", "mou-2015-03-30-2"),
        ]
        assert rows("SELECT ref, title FROM activities") == [("visit-2017-07-01", "Trade visit")]
        assert rows("SELECT count(*) FROM registry_meta WHERE key = 'dataset_loaded'") == [(1,)]
    # the old registry is used as it is: the ids work, and corrections are audited
    removed = project.cli("remove", "agreement", "Old Town", "mou-2015-03-30-2")
    assert removed.exit_code == 0, removed.stderr
    listed = json.loads(project.cli("partners", "--json").stdout)
    assert [(a["id"], a["local_party"]) for a in listed[0]["agreements"]] == [
        ("mou-2015-03-30", "Chiang Mai Province")]
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(text("SELECT who, target FROM audit"))] == [
            ("cli", "old/mou-2015-03-30-2")]
        assert conn.execute(text("SELECT count(*) FROM partners")).scalar() == 1
    engine.dispose()


def test_init_carries_a_0003_database_with_data_forward(project: Project) -> None:
    project.db_path.parent.mkdir(parents=True)
    _carry_0003_forward(project, f"sqlite:///{project.db_path}")


@pytest.mark.postgres
def test_init_carries_a_0003_postgresql_database_forward(project: Project,
                                                         pg_database: str) -> None:
    _carry_0003_forward(project, pg_database)


def test_a_fresh_0003_database_without_partners_is_still_loaded_once(project: Project) -> None:
    project.db_path.parent.mkdir(parents=True)
    engine = create_engine(f"sqlite:///{project.db_path}")
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    assert project.cli("init").exit_code == 0
    with sqlite3.connect(project.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM partners").fetchone() == (3,)
