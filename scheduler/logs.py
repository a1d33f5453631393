"""Logging: the one setup for every sistercity process (commands, the daemon, its job children).

Every line is `<ISO 8601 local time with offset> LEVEL logger: message` on stderr, whatever
stderr is (a terminal, a file, a pipe, the journal), so that a log file read days later still
says when. Under systemd each line also starts with its syslog priority (`<3>` error … `<7>`
debug), which journald reads and strips.

A command logs warnings only (`-v` info, `-vv` debug); the daemon also logs its progress
(`show_progress`). The spawned job children get the parent's `LogSetup` and apply it with
`configure`, so that their lines look the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class LogSetup:
    """What `configure` applies: `verbose` is the count of -v (0 warnings, 1 info, 2+ debug);
    `progress` makes the sistercity loggers report info even at 0 (the daemon)."""

    verbose: int = 0
    progress: bool = False

    @property
    def root_level(self) -> int:
        """The level of third-party libraries' loggers."""
        return logging.DEBUG if self.verbose > 1 else logging.INFO if self.verbose else \
            logging.WARNING

    @property
    def sistercity_level(self) -> int:
        """The level of the `sistercity.*` loggers."""
        if self.verbose > 1:
            return logging.DEBUG
        return logging.INFO if self.progress or self.verbose else logging.WARNING


class IsoFormatter(logging.Formatter):
    """`%(asctime)s` as ISO 8601 local time with its UTC offset, to the millisecond."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """`record.created` as e.g. 2030-01-05T10:00:00.000+07:00 (`datefmt` is ignored)."""
        return dt.datetime.fromtimestamp(record.created).astimezone().isoformat(
            timespec="milliseconds")


class JournalFormatter(IsoFormatter):
    """An `IsoFormatter` line prefixed with its syslog priority for journald."""

    PRIORITY: ClassVar[Mapping[int, int]] = {
        logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
        logging.DEBUG: 7,
    }

    def format(self, record: logging.LogRecord) -> str:
        """Each line of the formatted record (a traceback has several) gets the prefix."""
        priority = self.PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_current: LogSetup | None = None


def stderr_is_journal() -> bool:
    """True when stderr is the journal stream systemd connected. systemd sets
    JOURNAL_STREAM=device:inode; children inherit the variable, so compare it with what stderr
    really is."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return bool(expected) and expected == f"{st.st_dev}:{st.st_ino}"


def configure(setup: LogSetup) -> None:
    """Send all logging to this process's stderr as described in the module docstring,
    replacing any earlier handler (each CLI invocation logs to its own stderr, also in-process
    in tests)."""
    global _current
    handler = logging.StreamHandler(sys.stderr)
    formatter = JournalFormatter(FORMAT) if stderr_is_journal() else IsoFormatter(FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=setup.root_level, handlers=[handler], force=True)
    logging.getLogger("sistercity").setLevel(setup.sistercity_level)
    # "skipped: maximum number of running instances reached" is normal in the daemon: the
    # delivery tick waits behind a long job run in the single worker.
    logging.getLogger("apscheduler.scheduler").setLevel(
        logging.DEBUG if setup.verbose > 1 else logging.ERROR)
    _current = setup


def show_progress() -> None:
    """Also log the sistercity progress lines (`job=… sent=…`) at the current verbosity: the
    daemon's log is its record of work. Configures with the defaults if nothing did yet."""
    configure(dataclasses.replace(_current or LogSetup(), progress=True))


def current() -> LogSetup | None:
    """The setup `configure` last applied in this process; None when it was never called (as
    in-process under pytest, whose capture must then be left alone)."""
    return _current
