"""Calendar invitations (iCalendar, RFC 5545 / iTIP RFC 5546) carried by agenda emails.

Every agenda email carries exactly one calendar: ``METHOD:REQUEST`` (an invitation, a stage
reminder or an update) or ``METHOD:CANCEL``. The UID is stable per meeting occurrence for its
whole life (:func:`event_uid`), so a reminder or an update changes the recipient's calendar
entry instead of adding another one; ``sequence`` is raised by each significant change (RFC 5546
§2.1.4), and kept by a plain reminder. Each message names the organizer and its one reader as
``ATTENDEE``: an invitation never shows one invitee the others' addresses (issue 18, fault 5).

Untrusted text (summaries, agendas, names typed into the registry) never breaks the structure:

* TEXT values are cleaned by :func:`clean_text` (control characters dropped, every line break
  spelling normalised to LF) and then escaped by :class:`_Text`, which escapes ``\\``, ``;``,
  ``,`` and newlines exactly once. icalendar 7.3's own escaper first rewrites a literal ``\\N``
  into a line break, so ``C:\\New folder`` would come out as ``C:`` / ``ew folder``; we do not use
  it for values we write.
* ``CN`` parameters are cleaned by :func:`clean_name` (control characters and whitespace runs
  become one space, double quotes and backslashes are dropped); icalendar quotes the value when
  it contains ``,;:`` or a space.
* Email addresses with whitespace or control characters are rejected (``ValueError``).

Lines are folded by icalendar at 75 octets on code-point boundaries (never inside a UTF-8
sequence), with CRLF line endings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//sistercity//sistercity-scheduler//EN"
METHODS = ("REQUEST", "CANCEL")

# Characters that some consumers treat as line breaks (str.splitlines, Unicode-aware parsers).
_LINE_BREAKS = re.compile("\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_WHITESPACE_RUN = re.compile(r"\s+")


@dataclass(frozen=True)
class Attendee:
    """One invitee: a bare address and the display name (may be empty)."""

    email: str
    name: str = ""


def event_uid(meeting_id: str, occurrence: date, domain: str) -> str:
    """The UID of one meeting occurrence: the same for every reminder and every recipient."""
    return f"{meeting_id}-{occurrence:%Y%m%d}@{domain}"


def _utf8_safe(value: str) -> str:
    # Lone surrogates cannot be encoded; replace them rather than fail at to_ical().
    return value.encode("utf-8", "replace").decode("utf-8")


def clean_text(value: str) -> str:
    """A TEXT value safe to hand to the escaper.

    Every line-break spelling becomes LF (escaped as ``\\n`` on output); tab is kept; all other
    control characters (C0, DEL, C1) are dropped.
    """
    value = _LINE_BREAKS.sub("\n", _utf8_safe(value))
    return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def clean_name(value: str) -> str:
    """A display name fit for a ``CN`` parameter.

    One line (control characters and whitespace runs become one space), no double quotes, and no
    backslashes: parameter values have no backslash escapes in RFC 5545, but icalendar's parser
    (like other lenient parsers) reads ``CN=Name\\;RSVP=TRUE`` as one value ``Name;RSVP=TRUE``.
    """
    value = _utf8_safe(value).replace('"', "").replace("\\", "")
    value = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in value)
    return _WHITESPACE_RUN.sub(" ", value).strip()


def _mailto(email: str) -> str:
    address = email.strip()
    if address[:7].lower() == "mailto:":
        address = address[7:]
    if (
        not address
        or "@" not in address
        or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in address)
    ):
        raise ValueError(f"not a usable email address: {email!r}")
    return f"mailto:{address}"


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


class _Text(vText):
    """vText with plain RFC 5545 3.3.11 escaping (no ``\\N`` -> newline rewrite)."""

    def to_ical(self) -> bytes:
        escaped = (
            str(self)
            .replace("\\", "\\\\")
            .replace(";", "\\;")
            .replace(",", "\\,")
            .replace("\r\n", "\n")
            .replace("\r", "\n")
            .replace("\n", "\\n")
        )
        return escaped.encode("utf-8")


def _address(email: str, name: str, extra: dict[str, str] | None = None) -> vCalAddress:
    address = vCalAddress(_mailto(email))
    cn = clean_name(name)
    if cn:
        address.params["CN"] = cn
    for key, value in (extra or {}).items():
        address.params[key] = value
    return address


def text_value(value: str) -> vText:
    """A TEXT property value written safely (cleaned, escaped once): see the module notes."""
    return _Text(clean_text(value))


def calendar_address(email: str, name: str) -> vCalAddress:
    """A CAL-ADDRESS (``mailto:``) with a cleaned ``CN``; ValueError for an unusable address."""
    return _address(email, name)


def build_invitation(
    *,
    uid: str,
    summary: str,
    starts_at: datetime,
    duration_minutes: int,
    location: str,
    description: str,
    organizer_email: str,
    organizer_name: str,
    attendees: Sequence[Attendee],
    sequence: int = 0,
    stamp: datetime,
    method: str = "REQUEST",
) -> bytes:
    """A VCALENDAR with exactly one VEVENT, as RFC 5545 bytes (CRLF, folded): ``method``
    "REQUEST" (``STATUS:CONFIRMED``) or "CANCEL" (``STATUS:CANCELLED``, RFC 5546 §3.2.5).

    Times are written in UTC (``...Z``) so no VTIMEZONE is needed. Attendees are listed once per
    address (case-insensitive; the first occurrence wins); agenda emails give one, the reader.
    ValueError for another method, a negative sequence or a non-positive duration.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if duration_minutes <= 0:
        raise ValueError(f"duration_minutes must be positive, got {duration_minutes}")
    if sequence < 0:
        raise ValueError(f"sequence must not be negative, got {sequence}")
    start = _utc(starts_at, "starts_at")

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = Event()
    event.add("uid", _Text(clean_text(uid)))
    event.add("dtstamp", _utc(stamp, "stamp"))
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=duration_minutes))
    event.add("summary", _Text(clean_text(summary)))
    event.add("location", _Text(clean_text(location)))
    event.add("description", _Text(clean_text(description)))
    event.add("organizer", _address(organizer_email, organizer_name))
    seen: set[str] = set()
    for attendee in attendees:
        address = _address(
            attendee.email,
            attendee.name,
            {
                "CUTYPE": "INDIVIDUAL",
                "ROLE": "REQ-PARTICIPANT",
                "PARTSTAT": "NEEDS-ACTION",
                "RSVP": "TRUE",
            },
        )
        if address.lower() in seen:
            continue
        seen.add(address.lower())
        event.add("attendee", address)
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)

    ics: bytes = cal.to_ical()
    return ics


def calendar_method(ics: bytes) -> str:
    """The METHOD of an iCalendar object (parsed with icalendar); ValueError when it has none
    that an agenda email may carry."""
    method = str(Calendar.from_ical(ics).get("METHOD", "")).upper()
    if method not in METHODS:
        raise ValueError(f"expected a calendar with METHOD {' or '.join(METHODS)}, got {method!r}")
    return method


def invitation_part(ics: bytes) -> EmailMessage:
    """The ``text/calendar; method=…; charset=UTF-8`` body part (base64, so the CRLF line
    endings and folding survive transport unchanged)."""
    part = EmailMessage()
    part.set_content(
        ics,
        maintype="text",
        subtype="calendar",
        cte="base64",
        params={"charset": "UTF-8", "method": calendar_method(ics)},
    )
    del part["MIME-Version"]  # set_content adds it; it belongs on the top message only
    return part


def attach_invitation(msg: EmailMessage, ics: bytes) -> None:
    """Add the calendar to an agenda email, in place, once.

    ``msg`` must be ``multipart/alternative`` holding the text and HTML bodies (as built by
    ``msg.set_content(text)`` then ``msg.add_alternative(html, subtype="html")``). It becomes::

        multipart/alternative                 <- top message; From/To/Subject/... stay here
          text/plain
          text/html
          text/calendar; method=REQUEST (or CANCEL); charset=UTF-8

    One inline ``text/calendar`` alternative whose ``method`` parameter matches the METHOD
    inside is what Gmail and Outlook detect (RFC 6047 §2.4): they show the accept/decline
    buttons, or remove the event for a CANCEL. No second copy as an ``.ics`` attachment: it
    doubled every agenda's calendar (issue 18, fault 5).
    """
    if msg.get_content_type() != "multipart/alternative":
        raise ValueError(
            f"attach_invitation expects a multipart/alternative message, got "
            f"{msg.get_content_type()}"
        )
    if any(part.get_content_type() == "text/calendar" for part in msg.walk()):
        raise ValueError("message already carries a calendar invitation")
    msg.attach(invitation_part(ics))
