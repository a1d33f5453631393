"""The file transport: every message becomes one .eml file in a folder (for tests, previews and
sites that hand mail on by other means)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from pathlib import Path

from scheduler.files import write_atomically
from scheduler.mail.transports.base import Envelope, TransportError, Verdict

log = logging.getLogger(__name__)

__all__ = ["FileSender", "FileTransport", "safe_recipient"]

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
            await asyncio.to_thread(write_atomically, path, envelope.data)
        except OSError as exc:
            # Disk full, permissions, a missing mount: every message would fail the same way.
            raise TransportError(
                f"cannot write {path}: {exc.strerror or exc}", Verdict.DOWN
            ) from exc
        log.debug("message %s written to %s", envelope.message_id, path)

    async def close(self) -> None:
        """Nothing to let go of."""
        return None


class FileTransport:
    """Writes every message to `<outbox_dir>/<YYYYMMDD-HHMMSS>-<id:06d>-<recipient>.eml` (UTC),
    one writer at a time."""

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)
        self.max_connections = 1

    async def open_sender(self) -> FileSender:
        """A writer into the outbox folder."""
        return FileSender(self.outbox_dir)
