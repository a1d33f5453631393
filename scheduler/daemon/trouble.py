"""Repeated trouble, logged once: a daemon that retries every few seconds must not fill the log
with the same error; it says when something breaks and when it works again."""

from __future__ import annotations

import logging


def first_line(exc: BaseException) -> str:
    """`"TypeName: first line of the message"`; for a SQLAlchemy error, of the driver's
    original exception (the rest is SQL and a link)."""
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}"


class Complaints:
    """The last error per topic (a short label such as "heartbeat"); a repeat of the same
    error is not logged again."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._last: dict[str, str] = {}

    def complain(self, topic: str, exc: BaseException, *, with_traceback: bool = False) -> None:
        """Log `exc` as a warning under `topic`, unless it is the same as the last one."""
        message = first_line(exc)
        if self._last.get(topic) == message:
            return
        self._last[topic] = message
        self._log.warning("%s: %s", topic, message, exc_info=exc if with_traceback else None)

    def recovered(self, topic: str) -> None:
        """`topic` works again: say so once if it had been failing."""
        if self._last.pop(topic, None) is not None:
            self._log.info("%s: working again", topic)
