"""Schema versions: the code's expected head is the migrations' head; an older database is
upgraded by `init` without losing data; a newer one is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from conftest import Project
from sqlalchemy import create_engine

import scheduler.db.database
from scheduler.db.database import KNOWN_REVISIONS, SCHEMA_REVISION


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
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == SCHEMA_REVISION
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
