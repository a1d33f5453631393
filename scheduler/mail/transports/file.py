"""The file transport: every message becomes one .eml file in a folder (for tests, previews and
sites that hand mail on by other means).

A message is written in the hidden `.tmp/` subfolder first and then renamed into place, so
whoever reads the folder (a script handing mail on) sees whole .eml files only, even when
delivery is killed mid-write; what a killed writer left in `.tmp/` is removed later.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import time
from pathlib import Path

from scheduler.files import write_atomically
from scheduler.mail.transports.base import Envelope, TransportError, Verdict

log = logging.getLogger(__name__)

__all__ = ["FileSender", "FileTransport", "safe_recipient"]

# The hidden folder beside the .eml files where each is written before it is renamed in.
STAGING = ".tmp"

# A file left in STAGING this long ago belongs to a writer that died (a write takes
# milliseconds; the margin keeps a live writer in another process safe).
STALE_SECONDS = 3600

_UNSAFE = re.compile(r"[^a-z0-9.@_-]+")
_MAX_NAME_RECIPIENT = 64


def safe_recipient(recipient: str) -> str:
    """The recipient as a file-name fragment: only [a-z0-9.@_-], no "..", at most 64 chars,
    never empty ("unknown")."""
    name = _UNSAFE.sub("_", recipient.lower())
    name = re.sub(r"\.{2,}", ".", name).strip(".")[:_MAX_NAME_RECIPIENT]
    return name or "unknown"


class FileSender:
    """Writes each envelope whole (temporary file, fsync, rename) into `outbox_dir`, created
    when missing."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = outbox_dir

    def filename(self, envelope: Envelope) -> str:
        """`<YYYYMMDD-HHMMSS>-<id:06d>-<recipient>.eml`, the time of writing in UTC (it only
        orders the files for a reader; delivery's clock is not involved)."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{envelope.message_id:06d}-{safe_recipient(envelope.recipient)}.eml"

    async def send(self, envelope: Envelope) -> None:
        """Write the message; raises TransportError (DOWN) when the folder cannot take it."""
        path = self.outbox_dir / self.filename(envelope)
        try:
            await asyncio.to_thread(
                write_atomically, path, envelope.data, staging=self.outbox_dir / STAGING)
        except OSError as exc:
            # Disk full, permissions, a missing mount: every message would fail the same way.
            raise TransportError(
                f"cannot write {path}: {exc.strerror or exc}", Verdict.DOWN
            ) from exc
        log.debug("message %s written to %s", envelope.message_id, path)

    async def close(self) -> None:
        """Remove the staging folder if it is empty (a folder of whole .eml files is left
        exactly as a reader expects it); safe to call twice."""
        with contextlib.suppress(OSError):  # missing, or another writer is using it
            os.rmdir(self.outbox_dir / STAGING)


class FileTransport:
    """Writes every message to `<outbox_dir>/<YYYYMMDD-HHMMSS>-<id:06d>-<recipient>.eml` (UTC),
    one writer at a time."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)
        self.max_connections = 1

    async def open_sender(self) -> FileSender:
        """A writer into the outbox folder (first removing what dead writers left)."""
        await asyncio.to_thread(remove_stale, self.outbox_dir / STAGING)
        return FileSender(self.outbox_dir)


def remove_stale(staging: Path, *, now: float | None = None) -> int:
    """Delete the files in `staging` last modified more than STALE_SECONDS before `now`
    (seconds since the epoch; default: now): half-written messages of a killed delivery.
    Returns how many; a folder that is missing or unreadable is left alone."""
    cutoff = (time.time() if now is None else now) - STALE_SECONDS
    removed = 0
    with contextlib.suppress(OSError), os.scandir(staging) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat(
                        follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
    return removed
