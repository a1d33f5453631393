"""One email assembled from its parts: a safe header line from data (`header_text`) and the
multipart/alternative message with every header a sistercity email carries (`build_message`).

Data never becomes a header line (SPEC "Delivery"): values lose control characters here and
headers.py encodes non-ASCII ones (RFC 2047) and folds them.
"""

from __future__ import annotations

import datetime as dt
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from scheduler.mail import headers

_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str, limit: int = 250) -> str:
    """One safe header line: control characters (CR, LF…) become spaces, runs collapse."""
    cleaned = " ".join(_HEADER_UNSAFE.sub(" ", value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def build_message(
    *,
    sender: str,
    to: Address,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: dt.datetime,
    job: str,
    reply_to: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML, both UTF-8) with the headers every
    message carries: From `sender` (cleaned), To, Subject, Date, Message-ID, the markers
    that keep auto-responders quiet, and Reply-To when `reply_to` ("Name <address>") is given.

    Subject and display names are encoded and folded by `headers` (SPEC "Headers": RFC 2047
    encoded-words of at most 75 characters that decode to exactly `subject` and the names)."""
    msg = EmailMessage(policy=SMTP)
    name, address = parseaddr(sender)
    msg["From"] = headers.address("From", header_text(name), address)
    msg["To"] = headers.address("To", header_text(to.display_name), to.addr_spec)
    if reply_to:
        reply_name, reply_address = parseaddr(reply_to)
        msg["Reply-To"] = headers.address("Reply-To", header_text(reply_name), reply_address)
    msg["Subject"] = headers.unstructured("Subject", header_text(subject))
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Sistercity-Job"] = job
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
