"""`sistercity calendar FILE.ics`: the calendar feed written to a file (SPEC "Calendar feed").
The feed itself is built by scheduler.feed (pure), which the web app will serve too."""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr
from pathlib import Path

from dateutil.relativedelta import relativedelta

from scheduler.config import Settings
from scheduler.dates.thaidate import WorkingCalendar
from scheduler.db.database import Database
from scheduler.errors import UserError
from scheduler.feed import Feed, FeedScope, build_feed
from scheduler.files import refuse_overwrite, write_or_fail
from scheduler.registry.occurrences import load_sent
from scheduler.registry.store import load_registry


def feed_scope(settings: Settings, *, start: dt.date, months: int, group: str | None,
               now: dt.datetime) -> FeedScope:
    """What a feed of `months` months from `start` (local date) covers, for `group` (an id)
    or every group; `now` (aware) stamps it. The period ends the day before the same date
    `months` months later."""
    name, address = parseaddr(settings.email.sender)
    end = start + relativedelta(months=months) - dt.timedelta(days=1)
    return FeedScope(start=start, end=end, group=group, organizer_name=name,
                     organizer_email=address, timezone=settings.timezone, stamp=now)


def calendar_feed(db: Database, settings: Settings, scope: FeedScope) -> Feed:
    """The feed of `scope` from the registry and what was sent (one read transaction).

    Raises:
        UserError: `scope.group` names no working group.
    """
    with db.read() as session:
        registry = load_registry(session)
        sent = load_sent(session)
    if scope.group is not None and scope.group not in registry.working_groups:
        known = ", ".join(sorted(registry.working_groups)) or "none"
        raise UserError(f'--group: unknown working group "{scope.group}" (groups: {known})')
    calendar = WorkingCalendar(settings.extra_holidays, settings.extra_working_days)
    return build_feed(registry, sent, calendar, scope)


def write_calendar(db: Database, settings: Settings, path: Path, scope: FeedScope, *,
                   force: bool = False) -> Feed:
    """Write the feed of `scope` to `path` (whole or not at all); an existing file is
    replaced only with `force`.

    Raises:
        UserError: the file exists (without `force`), cannot be written, or the group is
            unknown; nothing is written then.
    """
    refuse_overwrite(path, force)
    feed = calendar_feed(db, settings, scope)
    write_or_fail(path, feed.data)
    return feed
