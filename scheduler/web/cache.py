"""A per-process cache of what the registry pages read (issue 16: the dashboard and the
partner list at 10,000 partners within 150 ms at the 95th percentile under load; a partner's
page, the registry lists and their forms, and the acknowledgements page read the registry
from it too).

Reading the whole registry (scheduler.registry.store.load_registry) takes seconds at 10,000
partners, and the dashboard and partner summaries built from it take as long again, so one web
worker keeps them, and the pages rendered from them, for as long as the database says nothing
changed. What says so is the *change key* (`change_key`), read in one small query at every
page view:

* the number of audit entries and the newest one's id: every operation that changes the
  registry writes one in the same transaction as its change (scheduler.services.audit: load,
  import, activity add, remove, correct, end, meeting cancel, and the web's forms, which call
  the same operations). The count moves even when an older transaction commits an entry after a
  newer one (PostgreSQL hands out ids before commit), since entries are never deleted;
* the registry's load mark (registry_meta "loaded"): the first load of the configured files
  (scheduler.registry.bootstrap) writes no audit entry, but sets the mark;
* the number of partners and the newest agreement and activity row ids: they cover a write that
  bypasses the audit log (an import called without `by`), which only adds rows.

Whoever changes the database — this worker, another worker, the CLI or a job — moves the key,
and the next page view reloads: never a stale page. The key is read before the data it
guards, in its own transaction, so a change that commits in between gives data newer than its
key, and the next view reloads once more (harmless). Values derived from the registry are kept
per key and per argument (the local date, the language…); the whole cache is dropped when the
key moves. Concurrent requests for a value being built wait for that one build instead of each
loading the registry. The signed-in account is kept the same way (scheduler.web.core): adding
and removing an account are audited too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select

from scheduler.db.database import Database
from scheduler.db.models import ActivityRow, AgreementRow, AuditRow, MetaRow, PartnerRow
from scheduler.registry.domain import Registry
from scheduler.registry.store import LOADED_KEY, load_registry

T = TypeVar("T")

ChangeKey = tuple[Any, ...]

_KEY_QUERY = select(
    select(func.count()).select_from(AuditRow).scalar_subquery(),
    select(func.max(AuditRow.id)).scalar_subquery(),
    select(MetaRow.value).where(MetaRow.key == LOADED_KEY).scalar_subquery(),
    select(func.count()).select_from(PartnerRow).scalar_subquery(),
    select(func.max(AgreementRow.id)).scalar_subquery(),
    select(func.max(ActivityRow.id)).scalar_subquery(),
)


def change_key(db: Database) -> ChangeKey:
    """What every change of the registry moves (see the module's docstring): (audit entries,
    newest audit id, load mark, partners, newest agreement row id, newest activity row id),
    None where a table is empty. One query, one read transaction, on a Core connection (a
    third of an ORM session's cost: it runs for every request)."""
    with db.engine.connect() as conn:
        row = conn.execute(_KEY_QUERY).one()
    return tuple(row)


class PageCache:
    """Values derived from the registry of `db`, kept while `change_key` stays the same.

    `current()` reads the key (once per request, in scheduler.web.core) and returns it;
    `get(key, name, args, build)` gives the value `build()` made for (name, args) under that
    key, building it once. Thread-safe: pages run in a thread pool."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()  # guards the fields below, never held while building
        self._key: ChangeKey | None = None
        self._values: dict[Hashable, Any] = {}
        self._counts: dict[str, int] = {}  # values kept, by name
        self._building: dict[Hashable, threading.Lock] = {}  # one lock per value being built
        self.loads = 0  # how many times the registry was read (for tests and the bench)

    def current(self) -> ChangeKey:
        """The database's change key now; values kept under another key are dropped."""
        key = change_key(self.db)
        with self._lock:
            if key != self._key:
                self._key, self._values, self._counts = key, {}, {}
        return key

    def get(self, key: ChangeKey, name: str, args: Hashable, build: Callable[[], T], *,
            limit: int | None = None) -> T:
        """The value for (`name`, `args`) under `key` (from `current()`), built by `build()`
        the first time; requests asking for the same value meanwhile wait for that one build,
        others go on. With `limit`, at most that many values of `name` are kept (the first
        ones; for values whose `args` come from the user, such as searches). A value built
        under a key that moved meanwhile is returned to this request (it is at least as new
        as its key) but not kept."""
        slot = (name, args)
        with self._lock:
            if key == self._key and slot in self._values:
                return self._values[slot]  # type: ignore[no-any-return]
            building = self._building.setdefault((key, slot), threading.Lock())
        with building:
            with self._lock:
                if key == self._key and slot in self._values:
                    return self._values[slot]  # type: ignore[no-any-return]
            try:
                value = build()
            finally:
                with self._lock:
                    self._building.pop((key, slot), None)
            with self._lock:
                kept = self._counts.get(name, 0)
                if key == self._key and (limit is None or kept < limit):
                    self._values[slot] = value
                    self._counts[name] = kept + 1
            return value

    def registry(self, key: ChangeKey) -> Registry:
        """The whole registry as load_registry reads it (ended relations included)."""

        def load() -> Registry:
            with self.db.read() as session:
                registry = load_registry(session)
            self.loads += 1
            return registry

        return self.get(key, "registry", None, load)

