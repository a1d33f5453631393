"""Handing finished messages to the outside world: a folder of .eml files, or SMTP.

`base` holds the contract (Envelope, Sender, Transport, TransportError and its Verdict),
`file` and `smtp` the two transports; `make_transport` picks one from the settings.
"""

from __future__ import annotations

import logging

from scheduler.config import Settings
from scheduler.errors import ConfigError
from scheduler.mail.transports.base import Envelope, Sender, Transport, TransportError, Verdict
from scheduler.mail.transports.file import FileSender, FileTransport, safe_recipient
from scheduler.mail.transports.smtp import SmtpOptions, SmtpSender, SmtpTransport

# The delivery log, as before the split: the warning belongs to setting delivery up.
log = logging.getLogger("sistercity.delivery")

__all__ = [
    "Envelope",
    "FileSender",
    "FileTransport",
    "Sender",
    "SmtpOptions",
    "SmtpSender",
    "SmtpTransport",
    "Transport",
    "TransportError",
    "Verdict",
    "make_transport",
    "safe_recipient",
    "smtp_password",
]


def smtp_password(settings: Settings) -> str | None:
    """The SMTP password, read now from the variable `smtp.password_env` names; None when
    mail does not go through SMTP or no `smtp.username` is set.

    Raises:
        ConfigError: `smtp.username` is set but the variable is not (or is empty): without it
            every login would be refused ("535 authentication failed"), so the command stops
            at its start, naming the variable.
    """
    s = settings.smtp
    if settings.email.transport == "file" or not s.username:
        return None
    password = s.password()
    if password:
        return password
    where = (f"the environment variable {s.password_env} is not set (or empty)"
             if s.password_env else "smtp.password_env is empty")
    raise ConfigError(
        f"{settings.label}: smtp.password_env: smtp.username is {s.username!r} but {where}: "
        "set it to the SMTP password before sending"
    )


def make_transport(settings: Settings) -> Transport:
    """The transport `settings.email.transport` names: "file" writes into
    `settings.email.outbox_dir`, anything else (config.py allows only "smtp") uses the
    `[smtp]` settings, reading the password from its environment variable now.

    Logs a warning when the server's certificate is not to be checked.

    Raises:
        ValueError: SMTP settings out of range (see SmtpOptions).
        ConfigError: a username without its password variable (see `smtp_password`).
    """
    if settings.email.transport == "file":
        return FileTransport(settings.email.outbox_dir)
    s = settings.smtp
    if not s.verify_tls and s.security != "none":
        log.warning("smtp.verify_tls is false: the mail server's certificate is not checked "
                    "(use this only for a test server)")
    options = SmtpOptions(
        host=s.host,
        port=s.port,
        security=s.security,  # type: ignore[arg-type]  # config.py admits only the three
        username=s.username,
        password=smtp_password(settings),
        timeout_seconds=s.timeout_seconds,
        max_connections=s.max_connections,
        verify_tls=s.verify_tls,
        cafile=str(s.cafile) if s.cafile else None,
    )
    return SmtpTransport(options)
