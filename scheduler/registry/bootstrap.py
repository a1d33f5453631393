"""Opening the configured database: the first thing most commands do.

Kept apart from the planners and the renderer so that `deliver`, `status` and `outbox` do
not import them: the dataset modules are imported only when an empty registry is loaded.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import text

from scheduler.config import Settings
from scheduler.db.database import Database

# scheduler.registry.store.LOADED_KEY, repeated so that opening does not import the store.
LOADED_KEY = "dataset_loaded"

log = logging.getLogger("sistercity.run")

__all__ = ["open_database"]


def open_database(
    settings: Settings, *, bootstrap: bool = True, upgrade: bool = False,
    today: dt.date | None = None,
) -> Database:
    """Open the configured database, creating the schema (upgrading it only when asked: that
    is `sistercity init`) and, the first time only, loading the configured dataset files
    (SPEC "Install and run": the database remembers that it was loaded, so a registry emptied
    or changed since is never loaded over again); `today` as for `read_files`."""
    db = Database(settings.database_url, label=settings.label)
    db.schema_action = db.ensure_schema(upgrade=upgrade)
    if bootstrap:
        with db.engine.connect() as conn:
            loaded = conn.execute(
                text("SELECT 1 FROM registry_meta WHERE key = :key"), {"key": LOADED_KEY}
            ).first() is not None
        if not loaded:
            _load_once(db, settings, today)
    return db


def _load_once(db: Database, settings: Settings, today: dt.date | None) -> None:
    """Load the configured dataset files and set the mark, under the bootstrap lock (two
    commands starting at once load it once)."""
    from scheduler.registry.dataset import read_files
    from scheduler.registry.store import known_ids, mark_loaded, upsert_batch, was_loaded

    with db.write(lock="bootstrap") as session:
        if was_loaded(session):
            return
        if settings.data_files:
            upsert_batch(session, read_files(settings.data_files, known_ids(session), today=today))
            log.info("loaded %s into the new registry",
                     ", ".join(p.name for p in settings.data_files))
        mark_loaded(session, "data.files")
