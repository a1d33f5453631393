"""Notices → one rendered email (subject, text, HTML, headers), at queue time.

Templates: `<job>.<lang>.txt` (with a `subject` block) and `<job>.<lang>.html`, Jinja2 with
StrictUndefined; HTML autoescaped. `email.templates_dir` may override any of them.
Data never becomes a header line: header values are stripped of control characters, and
headers.py encodes non-ASCII ones (RFC 2047) and folds them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from html import escape as html_escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
)

from jobs import JOB_NAMES
from scheduler.config import bundled_path
from scheduler.errors import ConfigError
from scheduler.mail import headers
from scheduler.mail import text as layout
from scheduler.mail.cache import bytecode_cache
from scheduler.planning import Notice, Recipient
from scheduler.registry.domain import LANGUAGES, AgreementKind


# Stands for the reader's name in a rendering shared by several readers: made fresh for each
# shared rendering from 128 random bits, so no name or title in the data can contain it (a
# fixed character such as U+E000 could be, and was then replaced by the reader's name: issue
# 12, fault 9); letters, digits and "-" only, so escaping leaves it alone.
def _name_slot() -> str:
    return f"sistercity-reader-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class _Shared:
    """A rendering shared by several readers: the subject, and the text and HTML bodies cut
    where the reader's name goes."""

    subject: str
    text: tuple[str, ...]
    html: tuple[str, ...]

_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

# The `kind` filter's table, from the one on the domain.
KIND_NAMES = {lang: {kind.value: kind.name_in(lang) for kind in AgreementKind}
              for lang in LANGUAGES}


def header_text(value: str, limit: int = 250) -> str:
    """One safe header line: control characters (CR, LF…) become spaces, runs collapse."""
    cleaned = " ".join(_HEADER_UNSAFE.sub(" ", value).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


@dataclass(frozen=True)
class Rendered:
    """One finished email: the Subject header, the Message-ID (with angle brackets), the
    complete message as bytes (CRLF, ready for SMTP), and its text and HTML bodies."""

    subject: str
    message_id: str
    data: bytes
    text: str
    html: str


def _date(value: dt.date | None, lang: str) -> str:
    # No-break spaces inside: a date never breaks across lines (SPEC "Text").
    return layout.date_nb(value, lang)


def country_name(code: str, lang: str) -> str:
    """CLDR's name of a country in Thai or English, or the code when CLDR has none."""
    from babel import Locale

    return str(Locale(lang).territories.get(code, code))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class Renderer:
    """Renders jobs' notices into emails from Jinja2 templates (`templates_dir` first, then
    the bundled ones), in the recipient's language; dates shown in `timezone`.

    Raises ConfigError (from `template`, `check`, `render`) for a missing or broken template.
    """

    def __init__(self, *, sender: str, timezone: str, templates_dir: Path | None = None) -> None:
        self.sender = sender
        self.sender_name, self.sender_address = parseaddr(sender)
        self.domain = self.sender_address.rpartition("@")[2] or "sistercity.invalid"
        self.timezone = timezone
        self.templates_dir = templates_dir
        loaders = []
        if templates_dir is not None:
            loaders.append(FileSystemLoader(str(templates_dir)))
        loaders.append(FileSystemLoader(str(bundled_path("templates"))))
        # Two environments, so that shared macros are escaped exactly once in HTML and never in
        # text: Jinja treats a macro's output as safe markup in an autoescaped template, so the
        # macros themselves must be compiled with autoescape on for HTML and off for text.
        self.text_env = self._environment(ChoiceLoader(loaders), autoescape=False)
        self.html_env = self._environment(ChoiceLoader(loaders), autoescape=True)
        # Compiling the templates costs more than a small run; keep the bytecode between
        # runs (keyed by the source's checksum, one folder per environment since the same
        # macros compile differently with and without autoescape), in a folder only this
        # user can write (cache.py: loading bytecode runs it).
        for env, kind in ((self.text_env, "text"), (self.html_env, "html")):
            env.bytecode_cache = bytecode_cache(kind)
        self._cache: dict[str, Template] = {}
        self._shared: dict[Hashable, _Shared] = {}

    @staticmethod
    def _environment(loader: ChoiceLoader, *, autoescape: bool) -> Environment:
        env = Environment(
            loader=loader, undefined=StrictUndefined, autoescape=autoescape,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        )
        env.filters["date"] = _date
        env.filters["month_year"] = layout.month_year_nb
        env.filters["datetime"] = layout.datetime_nb
        env.filters["span"] = layout.span
        env.filters["span_between"] = layout.span_between
        env.filters["nobreak"] = layout.nobreak
        env.filters["space_scripts"] = layout.space_scripts
        env.filters["wrap"] = layout.wrap
        env.filters["kind"] = lambda kind, lang: KIND_NAMES[lang].get(kind, kind)
        env.filters["ordinal"] = _ordinal
        env.filters["country_name"] = country_name
        return env

    def template(self, name: str) -> Template:
        """The compiled template `name` (e.g. "anniversaries.en.html"), cached.

        Raises:
            ConfigError: it is missing or does not compile.
        """
        cached = self._cache.get(name)
        if cached is None:
            env = self.html_env if name.endswith(".html") else self.text_env
            try:
                cached = env.get_template(name)
            except TemplateError as exc:
                where = self.templates_dir or bundled_path("templates")
                raise ConfigError(f"{where}/{name}: broken email template: {exc}") from None
            self._cache[name] = cached
        return cached

    def check(self, jobs: Sequence[str] = JOB_NAMES) -> None:
        """Load every template the jobs need now, so a broken one stops the command before
        anything is queued rather than in the middle of a run."""
        for job in jobs:
            for lang in LANGUAGES:
                text = self.template(f"{job}.{lang}.txt")
                self.template(f"{job}.{lang}.html")
                if "subject" not in text.blocks:
                    raise ConfigError(f"{job}.{lang}.txt: the template has no subject block")

    def forget_shared(self) -> None:
        """Drop bodies kept for sharing (call between runs: they are only valid within one)."""
        self._shared.clear()

    def _subject(self, job: str, lang: str, variables: dict[str, Any]) -> str:
        template = self.template(f"{job}.{lang}.txt")
        try:
            return header_text("".join(template.blocks["subject"](template.new_context(variables))))
        except TemplateError as exc:
            raise ConfigError(f"{job}.{lang}: email template failed: {exc}") from None

    def _bodies(
        self, job: str, lang: str, recipient: Recipient, variables: dict[str, Any]
    ) -> tuple[str, str, str]:
        subject = self._subject(job, lang, variables)
        try:
            text = self.template(f"{job}.{lang}.txt").render(variables)
            html = self.template(f"{job}.{lang}.html").render(variables)
        except TemplateError as exc:
            raise ConfigError(f"{job}.{lang}: email template failed: {exc}") from None
        return subject, text, html

    def render(
        self,
        job: str,
        recipient: Recipient,
        notices: Sequence[Notice],
        *,
        as_of: dt.date,
        now: dt.datetime,
        extra: Mapping[str, Any] | None = None,
        ics: bytes | None = None,
        share_key: Hashable | None = None,
        subject_only: bool = False,
    ) -> Rendered:
        """One email for `recipient`. Readers who get the same items (`share_key`) in the same
        language and roles share one rendering, personalised by name afterwards: a meeting's
        agenda or the staff's digest is rendered once, not once per reader. `subject_only`
        renders just the subject (for `run --dry-run`, which lists what would be sent)."""
        lang = recipient.language if recipient.language in LANGUAGES else "en"
        variables: dict[str, Any] = {
            "lang": lang,
            "job": job,
            "recipient": recipient,
            "items": [n.context for n in notices],
            "as_of": as_of,
            "sender_name": self.sender_name or self.sender_address,
            **(extra or {}),
        }
        if subject_only:
            return Rendered(self._subject(job, lang, variables), "", b"", "", "")
        if share_key is None:
            subject, text, html = self._bodies(job, lang, recipient, variables)
        else:
            key = (job, lang, recipient.roles, share_key)
            shared = self._shared.get(key)
            if shared is None:
                slot = _name_slot()
                anonymous = Recipient("", slot, lang, recipient.roles)
                subject, text, html = self._bodies(
                    job, lang, anonymous, {**variables, "recipient": anonymous})
                shared = _Shared(subject, tuple(text.split(slot)), tuple(html.split(slot)))
                self._shared[key] = shared
            subject = shared.subject
            text = recipient.name.join(shared.text)
            html = html_escape(recipient.name).join(shared.html)
        message_id = f"<{job}.{uuid.uuid4().hex}@{self.domain}>"
        msg = build_message(
            sender=self.sender,
            to=Address(header_text(recipient.name), addr_spec=recipient.address),
            subject=header_text(subject),
            text=text,
            html=html,
            message_id=message_id,
            date=now.astimezone(ZoneInfo(self.timezone)),  # the office's offset, e.g. +0700
            job=job,
        )
        if ics is not None:
            from scheduler.mail.invitation import attach_invitation

            attach_invitation(msg, ics)
        data = msg.as_bytes(policy=SMTP)
        return Rendered(header_text(subject), message_id, data, text, html)


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
