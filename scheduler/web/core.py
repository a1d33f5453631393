"""What every page of the web app shares: the app's state (settings, database, session codec,
clock), the request context `Ctx`, the guard that every endpoint goes through, and rendering.

The guard (`page`) runs for every request: it reads the signed session cookie (a signed-out
session with a CSRF token is started when there is none), reads the database's change key and
the account kept under it (scheduler.web.cache: adding or removing an account moves the key, so
a removed account is signed out at once), checks the CSRF token of every POST (403 page,
nothing changed, no redirect), then the role (a GET of a signed-out visitor goes to the sign-in
page; anything else short of the role gets 403). Page functions are plain functions run in the
thread pool (one hop per request, at most PAGE_WORKERS at once), since the service layer is
synchronous.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from anyio import CapacityLimiter, to_thread
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from scheduler.config import Settings, bundled_path
from scheduler.dates.thaidate import format_date, format_datetime
from scheduler.db.database import Database
from scheduler.db.models import LocalPartyRow, WorkingGroupRow
from scheduler.registry.domain import AgreementKind
from scheduler.services.audit import Actor
from scheduler.services.runs import Runner
from scheduler.services.users import Account, Role, get_user
from scheduler.web.cache import ChangeKey, PageCache
from scheduler.web.i18n import (
    country_name,
    describe_schedule,
    label,
    language_name,
    pick_language,
    text,
)
from scheduler.web.session import COOKIE, LoginLimiter, Session, SessionCodec

PAGE_WORKERS = 4  # threads serving pages at once (WebState.workers)

RANK = {Role.VIEWER: 0, Role.STAFF: 1, Role.ADMIN: 2}

# Every response: no framing, no sniffing, no referrer to other sites; no script at all; the
# email preview iframe is sandboxed and may use the email's inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class WebState:
    """The app's parts, made once by create_app: settings, database, the session codec and
    sign-in limiter, the clock (aware UTC), the job runner, uploads waiting for their
    confirmation, and the templates."""

    settings: Settings
    db: Database
    codec: SessionCodec
    clock: Callable[[], dt.datetime]
    runner: Runner
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    uploads: dict[str, Any] = field(default_factory=dict)  # import token → upload, to confirm
    templates: Environment = field(init=False)
    cache: PageCache = field(init=False)  # what the registry pages read (scheduler.web.cache)
    _workers: CapacityLimiter | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.cache = PageCache(self.db)
        self.templates = Environment(
            loader=FileSystemLoader(str(bundled_path("web"))),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            auto_reload=False,  # templates are part of the release: no stat() per page
        )

    def workers(self) -> CapacityLimiter:
        """How many requests run their synchronous part at once (PAGE_WORKERS; made in the
        event loop on first use). The work holds the GIL, so more threads only add switching,
        and past the database pool's size (5) every extra one opens a connection of its own."""
        if self._workers is None:
            self._workers = CapacityLimiter(PAGE_WORKERS)
        return self._workers


@dataclass
class Ctx:
    """One request as a page sees it: the request, its session and account (None when signed
    out), its form (POST), when it came (aware UTC), and the session to send back when it
    changed."""

    state: WebState
    request: Request
    session: Session
    user: Account | None
    now: dt.datetime
    form: FormData | None = None
    send_session: bool = False
    key: ChangeKey = ()  # the database's change key when the request came (scheduler.web.cache)

    @property
    def lang(self) -> str:
        """The page language: the account's, else the one picked while signed out."""
        return self.user.language if self.user else (self.session.lang or "en")

    @property
    def today(self) -> dt.date:
        """Today in scheduler.timezone."""
        return self.now.astimezone(self.state.settings.tz).date()

    @property
    def actor(self) -> Actor:
        """Who changes something: the signed-in account's email, for the audit log."""
        assert self.user is not None
        return Actor(self.user.email, self.now)

    @property
    def may_change(self) -> bool:
        """Whether the account may change anything (forms are shown only then)."""
        return self.user is not None and self.user.role.may_change

    def field(self, name: str) -> str:
        """A text field of the POSTed form, stripped ("" when absent or a file)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""

    def t(self, key: str) -> str:
        """The word for `key` in the page language."""
        return text(self.lang, key)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """The page `template` (templates/web) with `values`, the context and helpers that
        put codes in the reader's words: `date(d)`, `when(dt)` (Buddhist Era in Thai),
        `kind(agreement_kind)`, `group(id)` (the working group's name, name_th in Thai),
        `party(name)` (a local party's Thai name in Thai),
        `country(code)` (CLDR's name, by babel), `language_name(code)` and
        `word(prefix, code)` (i18n key `prefix_code`: job, activity, contact, action…) and
        `schedule(crontab)` (in words)."""
        return HTMLResponse(self.render_text(template, **values), status_code=status)

    def render_text(self, template: str, **values: Any) -> str:
        """`template` rendered as `render` does, as text (a page, or a fragment of one that a
        page caches and includes)."""
        lang = self.lang

        def date(d: dt.date | None) -> str:
            return format_date(d, lang) if d else "-"

        def when(d: dt.datetime | None) -> str:
            tz = self.state.settings.tz
            return format_datetime(d.astimezone(tz).replace(tzinfo=None), lang) if d else "-"

        def kind(value: str) -> str:
            try:
                return AgreementKind(value).name_in(lang)
            except ValueError:
                return value

        names = RegistryNames(self.state.db, lang)

        return self.state.templates.get_template(template).render(
            t=self.t, lang=lang, user=self.user, csrf=self.session.csrf, date=date, when=when,
            kind=kind, group=names.group, party=names.party,
            country=lambda code: country_name(code, lang) if code else "-",
            language_name=lambda code: language_name(code, lang),
            word=lambda prefix, code: label(lang, prefix, code),
            schedule=lambda expression: describe_schedule(expression, lang),
            may_change=self.may_change, is_admin=self.user is not None
            and self.user.role is Role.ADMIN, path=self.request.url.path,
            here=self.here, **values)

    @property
    def here(self) -> str:
        """Where the language form returns to: this page (path and query) after a GET; after
        a POST, the page of its first path segment ("/jobs/run" → "/jobs")."""
        url = self.request.url
        if self.request.method == "GET":
            return url.path + (f"?{url.query}" if url.query else "")
        return "/" + url.path.strip("/").split("/")[0]

    def refuse(self, status: int, title_key: str, text_key: str) -> HTMLResponse:
        """An error page (403, 404, 429…) that changes nothing."""
        return self.render("error.html", status, title=self.t(title_key),
                           message=self.t(text_key))

    def redirect(self, url: str) -> RedirectResponse:
        """After a successful POST: see the result with a GET (303)."""
        return RedirectResponse(url, status_code=303)


class RegistryNames:
    """Names of registry records in the page language `lang`, read once per page when first
    asked for: working groups by id, local parties by their English name."""

    def __init__(self, db: Database, lang: str) -> None:
        self.db = db
        self.lang = lang
        self._groups: dict[str, str] | None = None
        self._parties: dict[str, str] | None = None

    def group(self, group_id: str | None) -> str:
        """A working group's name (name_th in Thai); "-" for none; an unknown id as it is."""
        if not group_id:
            return "-"
        if self._groups is None:
            with self.db.read() as session:
                self._groups = {
                    r.id: (r.name_th or r.name) if self.lang == "th" else r.name
                    for r in session.scalars(select(WorkingGroupRow))}
        return self._groups.get(group_id, group_id)

    def party(self, name: str) -> str:
        """A local party stored by its English name, by its Thai name on a Thai page."""
        if self.lang != "th" or not name:
            return name
        if self._parties is None:
            with self.db.read() as session:
                self._parties = {r.name: r.name_th or r.name
                                 for r in session.scalars(select(LocalPartyRow))}
        return self._parties.get(name, name)


PageFn = Callable[[Ctx], Response]


def page(role: Role | None) -> Callable[[PageFn], Callable[[Request], Awaitable[Response]]]:
    """The guard around a page function: session, CSRF on POST, then `role` (None: open to
    everyone, e.g. the sign-in page). See the module's docstring."""

    def wrap(fn: PageFn) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            state: WebState = request.app.state.web
            if request.method == "POST" and _too_large(request):
                # refused before the body is read (the CSRF token is inside it)
                return PlainTextResponse("413 request body too large", status_code=413,
                                         headers=SECURITY_HEADERS)
            form = (await request.form(max_files=1, max_fields=200)
                    if request.method == "POST" else None)
            return await to_thread.run_sync(_serve, state, request, form, role, fn,
                                            limiter=state.workers())

        endpoint.__name__ = fn.__name__
        endpoint.__doc__ = fn.__doc__
        return endpoint

    return wrap


# No form of the app takes more: the largest is a spreadsheet upload of at most 10 MB
# (pages_office.MAX_UPLOAD_BYTES, refused there with its own page), plus the form around it.
MAX_BODY_BYTES = 12 * 1024 * 1024


def _too_large(request: Request) -> bool:
    """Whether a POST says (Content-Length) that its body is over MAX_BODY_BYTES; a body sent
    without a length is read by the form parser, whose limits apply."""
    length = request.headers.get("content-length", "")
    return length.isdigit() and int(length) > MAX_BODY_BYTES


def _serve(state: WebState, request: Request, form: FormData | None, role: Role | None,
           fn: PageFn) -> Response:
    """The synchronous part of a request, in one thread-pool hop: the session and account,
    CSRF (POST), the role, then the page."""
    ctx = _context(state, request)
    ctx.form = form
    if form is not None:
        token = form.get("csrf")
        if not ctx.session.csrf_ok(token if isinstance(token, str) else None):
            return _finish(ctx, ctx.refuse(403, "forbidden", "csrf_text"))
    refusal = _check_role(ctx, role)
    if refusal is not None:
        return _finish(ctx, refusal)
    return _finish(ctx, fn(ctx))


def _context(state: WebState, request: Request) -> Ctx:
    now = state.clock()
    session = state.codec.load(request.cookies.get(COOKIE), now)
    send = session is None
    if session is None:
        session = Session.fresh(now, pick_language(request.headers.get("accept-language")))
    # The change key moves with every account added or removed (both audited), so the
    # account kept under it is the stored one: a removed account is signed out at once.
    key = state.cache.current()
    email = session.email
    user = state.cache.get(key, "account", email, lambda: get_user(state.db, email)
                           ) if email else None
    if session.email and (user is None or user.created_at.isoformat() != session.account):
        # the account was removed (or removed and made again: another account): signed out
        session, send = Session.fresh(now, session.lang), True
        user = None
    return Ctx(state, request, session, user, now, send_session=send, key=key)


def _check_role(ctx: Ctx, role: Role | None) -> Response | None:
    if role is None:
        return None
    if ctx.user is None:
        if ctx.request.method == "GET":
            return ctx.redirect("/")
        return ctx.refuse(403, "forbidden", "forbidden_text")
    if RANK[ctx.user.role] < RANK[role]:
        return ctx.refuse(403, "forbidden", "forbidden_text")
    return None


def _finish(ctx: Ctx, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if ctx.send_session:
        response.headers.append("set-cookie", ctx.state.codec.header(ctx.session))
    return response


def problem_text(ctx: Ctx, message: str, labels: Mapping[str, str]) -> str:
    """A service's UserError message for a form: a leading CLI option or field name
    ("--date: …", "expires_on: …") replaced by the label of the form field it came from."""
    head, sep, rest = message.partition(": ")
    if sep and head in labels:
        return f"{ctx.t(labels[head])}: {rest}"
    return message
