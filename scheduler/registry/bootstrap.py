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

log = logging.getLogger("sistercity.run")

__all__ = ["open_database"]


def open_database(
    settings: Settings, *, bootstrap: bool = True, upgrade: bool = False,
    today: dt.date | None = None,
) -> Database:
    """Open the configured database, creating the schema (upgrading it only when asked: that
    is `sistercity init`) and loading the configured dataset files into an empty registry
    (SPEC: the first command that needs the database); `today` as for `read_files`."""
    db = Database(settings.database_url, label=settings.label)
    db.schema_action = db.ensure_schema(upgrade=upgrade)
    if bootstrap and settings.data_files:
        with db.engine.connect() as conn:
            empty = conn.execute(text("SELECT 1 FROM partners LIMIT 1")).first() is None
        if empty:
            from scheduler.registry.dataset import read_files
            from scheduler.registry.store import known_ids, partner_count, upsert_batch

            with db.write(lock="bootstrap") as session:
                if partner_count(session) == 0:
                    batch = read_files(settings.data_files, known_ids(session), today=today)
                    upsert_batch(session, batch)
                    log.info(
                        "loaded %s into the new registry",
                        ", ".join(p.name for p in settings.data_files),
                    )
    return db
