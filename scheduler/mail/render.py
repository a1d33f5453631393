"""Notices → one rendered email (subject, text, HTML, headers), at queue time.

Templates: `<job>.<lang>.txt` (with a `subject` block) and `<job>.<lang>.html`, Jinja2 with
StrictUndefined; HTML autoescaped. `email.templates_dir` may override any of them.
Data never becomes a header line: header values are stripped of control characters, and
headers.py encodes non-ASCII ones (RFC 2047) and folds them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import parseaddr
from functools import partial
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
from scheduler.config import OfficeSettings, bundled_path
from scheduler.errors import ConfigError
from scheduler.mail import text as layout
from scheduler.mail.cache import bytecode_cache
from scheduler.mail.compose import build_message, header_text
from scheduler.mail.weblinks import JOB_ACTIONS, EmailLinks, LinkSlots, Sign, signed_act
from scheduler.planning import ESCALATION_STAGE, Notice, Recipient
from scheduler.registry.domain import LANGUAGES, AgreementKind


# Stands for the reader's name in a rendering shared by several readers: made fresh for each
# shared rendering from 128 random bits, so no name or title in the data can contain it (a
# fixed character such as U+E000 could be, and was then replaced by the reader's name: issue
# 12, fault 9); letters, digits and "-" only, so escaping leaves it alone.
def _name_slot() -> str:
    return f"sistercity-reader-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class _Shared:
    """A rendering shared by several readers: the subject, the text and HTML bodies with
    `slot` where the reader's name goes, `also` where the reader's "also sent to" goes, `feed`
    where the reader's calendar-feed lines go, and `links`' slots where the reader's own
    signed links go (a link is signed for one reader)."""

    subject: str
    text: str
    html: str
    slot: str
    also: str
    rows: int  # items shown in full per section
    feed: str = ""
    links: LinkSlots | None = None


# SPEC "Emails": consulate and MFA contacts are external readers; leads, staff and heads are
# internal. A person with any internal role reads as internal (one email per address).
EXTERNAL_ROLES = frozenset({"consulate", "mfa"})
# Jobs with a formal letter for external readers (`<job>.letter.<lang>.*`); the other jobs
# never address them.
LETTER_JOBS = ("anniversaries", "meeting-agendas")
# Jobs that escalate items to the heads (SPEC "The way back"): a message carrying an
# escalation (stage ESCALATION_STAGE) is rendered from `escalation.<lang>.*`, not the digest.
ESCALATING_JOBS = ("budget-deadlines", "dormant-partners")
ESCALATION_TEMPLATE = "escalation"

# SPEC "Size": Gmail clips an HTML part past about 102 KB; a message stays within 200 KiB.
HTML_BUDGET = 100 * 1024
MESSAGE_BUDGET = 200 * 1024
# Items a digest or agenda section shows in full before it counts the rest; halved while the
# email is over budget.
SECTION_ROWS = 30
# "Also sent to" names at most this many people, then "and N others" (SPEC "Text").
ALSO_NAMES = 10


def is_external(recipient: Recipient) -> bool:
    """True for a reader whose every role is external (consulate, MFA: SPEC "Emails")."""
    return bool(recipient.roles) and set(recipient.roles) <= EXTERNAL_ROLES


def also_sent_to(recipient: Recipient, notices: Sequence[Notice]) -> list[str]:
    """The names of everyone else told about any of `notices` (each context's `told`, a list
    of {"address", "name"}), in order, never the reader (matched by address, so a namesake
    still shows and the reader never does: SPEC "Text")."""
    names: dict[str, str] = {}
    for notice in notices:
        for person in notice.context.get("told", ()):
            address = str(person["address"]).lower()
            if address != recipient.address and address not in names:
                names[address] = str(person["name"])
    return list(names.values())

# The `kind` filter's table, from the one on the domain.
KIND_NAMES = {lang: {kind.value: kind.name_in(lang) for kind in AgreementKind}
              for lang in LANGUAGES}


@dataclass(frozen=True)
class Rendered:
    """One finished email: the Subject header, the Message-ID (with angle brackets), the
    complete message as bytes (CRLF, ready for SMTP), and its text and HTML bodies."""

    subject: str
    message_id: str
    data: bytes
    text: str
    html: str


class _Marker(str):
    """The reader's "also sent to" line inside a template: the text form by default, the HTML
    form as markup (`__html__`), so each part gets its own without escaping either twice."""

    html: str

    def __new__(cls, text: str, html: str) -> _Marker:
        made = super().__new__(cls, text)
        made.html = html
        return made

    def __html__(self) -> str:
        return self.html


def _within_budget(text: str, html: str) -> bool:
    """Whether an email with these bodies keeps to SPEC "Size": the HTML part at most
    HTML_BUDGET bytes, the whole message at most MESSAGE_BUDGET (both parts base64-encoded:
    4/3, plus line ends; 16 KiB left for the headers, the reader's name and an invitation)."""
    html_size = len(html.encode())
    encoded = (len(text.encode()) + html_size) * 4 / 3 * 78 / 76
    return html_size <= HTML_BUDGET - 2048 and encoded <= MESSAGE_BUDGET - 16 * 1024


def _template(job: str, external: bool, notices: Sequence[Notice]) -> str:
    """The template family of one message: the escalation digest when it carries an
    escalation to a head, the formal letter for an external reader, else the job's digest."""
    if any(n.stage == ESCALATION_STAGE for n in notices):
        return ESCALATION_TEMPLATE
    return f"{job}.letter" if external and job in LETTER_JOBS else job


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

    def __init__(
        self,
        *,
        sender: str,
        timezone: str,
        templates_dir: Path | None = None,
        office: OfficeSettings | None = None,
    ) -> None:
        self.sender = sender
        self.sender_name, self.sender_address = parseaddr(sender)
        # Who signs every email and receives the replies ([office]; its email defaults to the
        # sender's address).
        self.office = office or OfficeSettings(email=self.sender_address or OfficeSettings.email)
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
        # Set by the runner for a run when `web.base_url` is set: internal emails then carry
        # signed action links and each lead's calendar feeds (SPEC "The way back").
        self.links: EmailLinks | None = None

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
            kinds = (job, f"{job}.letter") if job in LETTER_JOBS else (job,)
            if job in ESCALATING_JOBS:
                kinds = (*kinds, ESCALATION_TEMPLATE)
            for kind in kinds:
                for lang in LANGUAGES:
                    text = self.template(f"{kind}.{lang}.txt")
                    self.template(f"{kind}.{lang}.html")
                    if "subject" not in text.blocks:
                        raise ConfigError(f"{kind}.{lang}.txt: the template has no subject block")
                    for part in ("_also", "_feed"):
                        self.template(f"{part}.{lang}.txt")
                        self.template(f"{part}.{lang}.html")

    def _message(
        self, job: str, recipient: Recipient, subject: str, text: str, html: str,
        now: dt.datetime, ics: bytes | None,
    ) -> tuple[str, bytes]:
        """The finished message to `recipient`: its Message-ID and its bytes (SMTP policy)."""
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
            reply_to=self.office.email,  # SPEC "Emails": replies go to the office
        )
        if ics is not None:
            from scheduler.mail.invitation import attach_invitation

            attach_invitation(msg, ics)
        return message_id, msg.as_bytes(policy=SMTP)

    def forget_shared(self) -> None:
        """Drop bodies kept for sharing (call between runs: they are only valid within one)."""
        self._shared.clear()

    def _subject(self, job: str, lang: str, variables: dict[str, Any]) -> str:
        template = self.template(f"{variables.get('template', job)}.{lang}.txt")
        try:
            return header_text("".join(template.blocks["subject"](template.new_context(variables))))
        except TemplateError as exc:
            raise ConfigError(f"{job}.{lang}: email template failed: {exc}") from None

    def _bodies(
        self, job: str, lang: str, recipient: Recipient, variables: dict[str, Any],
        rows: int = SECTION_ROWS,
    ) -> tuple[str, str, str, int]:
        """Subject, text and HTML within the size budget (SPEC "Size"), and the rows used:
        each section shows at most `rows` items in full and counts the rest; `rows` is halved
        until both parts fit (data of any length cannot push an email past the budget while
        rows ≥ 1)."""
        name = variables.get("template", job)
        subject = self._subject(job, lang, variables)
        while True:
            try:
                text = self.template(f"{name}.{lang}.txt").render({**variables, "rows": rows})
                html = self.template(f"{name}.{lang}.html").render({**variables, "rows": rows})
            except TemplateError as exc:
                raise ConfigError(f"{name}.{lang}: email template failed: {exc}") from None
            if rows <= 1 or _within_budget(text, html):
                # Thai text and a Latin-script name meet with a space (SPEC "Text").
                return subject, layout.space_scripts(text), layout.space_scripts(html), rows
            rows //= 2

    def _also(self, lang: str, names: Sequence[str]) -> tuple[str, str]:
        """The "also sent to" line of one reader, as text and as HTML ("" for nobody)."""
        variables = {"lang": lang, "names": names[:ALSO_NAMES],
                     "more": max(0, len(names) - ALSO_NAMES)}
        try:
            return (self.template(f"_also.{lang}.txt").render(variables),
                    self.template(f"_also.{lang}.html").render(variables))
        except TemplateError as exc:
            raise ConfigError(f"_also.{lang}: email template failed: {exc}") from None

    def _shared_rendering(
        self, job: str, lang: str, recipient: Recipient, variables: dict[str, Any],
        share_key: Hashable, keys: Mapping[int, tuple[str, dt.date]],
    ) -> _Shared:
        """The rendering that readers of the same items in the same language and roles share
        (made at the first of them): slots stand for each reader's name, "also sent to" line,
        feed lines and signed links (see `_personal`)."""
        key = (job, lang, recipient.roles, share_key)
        shared = self._shared.get(key)
        if shared is not None:
            return shared
        # The "also sent to" and feed slots sit right before Thai text ("หากต้องการ…"): in
        # <…>, which space_scripts leaves alone, so no space is put after them to outlive
        # the slot (issue 14 review, fault 4).
        slot, also = _name_slot(), f"<{_name_slot()}>"
        anonymous = Recipient("", slot, lang, recipient.roles)
        own = {**variables, "recipient": anonymous, "also": _Marker(also, also)}
        feed, slots = "", None
        if self.links is not None:
            feed = f"<{_name_slot()}>"
            own["feed"] = _Marker(feed, feed)
            if job in JOB_ACTIONS:
                slots = LinkSlots(f"{_name_slot()}-", keys)
                own["act"] = slots.act
        subject, text, html, rows = self._bodies(job, lang, anonymous, own)
        shared = _Shared(subject, text, html, slot, also, rows, feed, slots)
        self._shared[key] = shared
        return shared

    def _feed(self, lang: str, address: str) -> tuple[str, str]:
        """The reader's calendar-feed lines (a lead's groups), as text and as HTML ("" for a
        reader who leads no group, or without links)."""
        feeds = self.links.feeds.get(address, ()) if self.links is not None else ()
        if not feeds:
            return "", ""
        variables = {"lang": lang, "feeds": feeds}
        try:
            # filled in after the body's spacing: Thai and a Latin name get their space here
            return (layout.space_scripts(self.template(f"_feed.{lang}.txt").render(variables)),
                    layout.space_scripts(self.template(f"_feed.{lang}.html").render(variables)))
        except TemplateError as exc:
            raise ConfigError(f"_feed.{lang}: email template failed: {exc}") from None

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
        language and roles share one rendering, personalised afterwards by name and by the
        reader's own "also sent to" line: a meeting's agenda or the staff's digest is rendered
        once, not once per reader. External readers (consulates, the MFA) get the job's formal
        letter (`<job>.letter.<lang>`), rendered for each of them (it shows only their own
        items). With `self.links`, an internal email's items carry links signed for its
        reader (slots in a shared rendering). `subject_only` renders just the subject."""
        lang = recipient.language if recipient.language in LANGUAGES else "en"
        external = is_external(recipient)
        office = self.office
        variables: dict[str, Any] = {
            "lang": lang,
            "job": job,
            "template": _template(job, external, notices),
            "external": external,
            "recipient": recipient,
            "items": [n.context for n in notices],
            "as_of": as_of,
            # One name per language: Thai readers never see the English one (SPEC "Text").
            "office": {"name": office.name_in(lang), "email": office.email,
                       "phone": office.phone},
            "sender_name": office.name_in(lang),
            "also": "",
            "feed": "",
            "act": None,  # act(item, action) -> URL, when this email carries links
            # the web app's address for a cut section's "see them all" (SPEC "Size")
            "web_url": self.links.base_url if self.links is not None and not external else "",
            **(extra or {}),
        }
        if subject_only:
            return Rendered(self._subject(job, lang, variables), "", b"", "", "")
        also_text, also_html = ("", "") if external else self._also(
            lang, also_sent_to(recipient, notices))
        alone = {**variables, "also": _Marker(also_text, also_html)}
        keys = {id(n.context): (n.item, n.occurrence) for n in notices}
        sign: Sign | None = None
        if self.links is not None and not external:  # SPEC "The way back"
            alone["feed"] = _Marker(*self._feed(lang, recipient.address))
            if job in JOB_ACTIONS:
                alone["act"] = signed_act(self.links, job, recipient.address, keys)
                sign = partial(self.links.action_url, recipient.address, job)
        shared = None
        if share_key is not None and not external:
            shared = self._shared_rendering(job, lang, recipient, variables, share_key, keys)
        if shared is None:
            subject, text, html, rows = self._bodies(job, lang, recipient, alone)
        else:
            subject, rows = shared.subject, shared.rows
            text, html = _personal(shared, recipient, (also_text, also_html), alone["feed"],
                                   sign)
            if not _within_budget(text, html):  # longer links than their slots: unshared
                subject, text, html, rows = self._bodies(job, lang, recipient, alone)
        while True:
            message_id, data = self._message(job, recipient, subject, text, html, now, ics)
            if len(data) <= MESSAGE_BUDGET or rows <= 1:
                break
            # Past the budget after all (a large invitation, a long name): fewer rows.
            subject, text, html, rows = self._bodies(job, lang, recipient, alone, rows // 2)
        return Rendered(header_text(subject), message_id, data, text, html)


def _personal(shared: _Shared, recipient: Recipient, also: tuple[str, str], feed: Any,
              sign: Sign | None) -> tuple[str, str]:
    """The text and HTML of a shared rendering for one reader: their name, their "also sent
    to" line, their feed lines (`feed`, a _Marker or "") and their own links (`sign(item,
    occurrence, action)` → URL) put in the slots, in one pass over each body for the links."""
    text = shared.text.replace(shared.slot, recipient.name).replace(shared.also, also[0])
    html = shared.html.replace(shared.slot, html_escape(recipient.name)).replace(
        shared.also, also[1])
    if shared.feed:
        text = text.replace(shared.feed, str(feed))
        html = html.replace(shared.feed, feed.html if isinstance(feed, _Marker) else "")
    if shared.links is not None and sign is not None:
        text, html = shared.links.fill((text, html), sign)
    return text, html
