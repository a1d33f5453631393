"""Signing in and out, the page language, and (for admins) the accounts.

The language is each user's choice (SPEC "The office web app"): signed in, the form in every
page's header POSTs it (CSRF-checked) and it is stored on the account through
scheduler.services.users.set_language, audited; signed out, it is kept in the session cookie.

Sign-in failures are counted per email and per client address (scheduler.web.session
.LoginLimiter): past the limit the form answers 429 without checking the password. A wrong
password shows the form again (401) with the email kept; success starts a new session (a new
CSRF token) and lands on the dashboard.
"""

from __future__ import annotations

from starlette.responses import Response

from scheduler.errors import UserError
from scheduler.services.users import (
    LANGUAGES,
    Role,
    add_user,
    authenticate,
    list_users,
    normal_email,
    remove_user,
    set_language,
)
from scheduler.web.core import Ctx, page, problem_text
from scheduler.web.pages_registry import dashboard_page


def login_form(ctx: Ctx, status: int = 200, *, error: str = "", email: str = "") -> Response:
    """The sign-in page."""
    return ctx.render("login.html", status, error=error, email=email)


@page(None)
def root(ctx: Ctx) -> Response:
    """`/`: the sign-in form when signed out, else the dashboard."""
    if ctx.user is None:
        return login_form(ctx)
    return dashboard_page(ctx)


@page(None)
def login(ctx: Ctx) -> Response:
    """GET: the form (or the dashboard when signed in); POST: check the password."""
    if ctx.request.method == "GET":
        return ctx.redirect("/")
    email = normal_email(ctx.field("email"))
    client = ctx.request.client.host if ctx.request.client else "unknown"
    keys = [f"email:{email}", f"client:{client}"]
    limiter = ctx.state.limiter
    if not limiter.reserve(keys, ctx.now):  # checked and counted at once: no race past it
        return login_form(ctx, 429, error=ctx.t("too_many"), email=email)
    password = ctx.form.get("password") if ctx.form is not None else None
    account = (authenticate(ctx.state.db, email, password)
               if email and isinstance(password, str) and password else None)
    if account is None:
        return login_form(ctx, 401, error=ctx.t("wrong_password"), email=email)
    limiter.forgive(keys, ctx.now)
    limiter.clear(f"email:{email}")
    ctx.session = ctx.session.signed_in(account.email, ctx.now, account.created_at.isoformat())
    ctx.send_session = True
    return ctx.redirect("/")


@page(None)
def logout(ctx: Ctx) -> Response:
    """POST: sign out (a new, signed-out session)."""
    ctx.session = type(ctx.session).fresh(ctx.now, ctx.lang)
    ctx.send_session = True
    return ctx.redirect("/")


@page(None)
def language(ctx: Ctx) -> Response:
    """GET /lang/th or /lang/en: the language of a signed-out visitor's pages, in the session
    cookie only. Signed in it changes nothing (a GET never changes an account: the header's
    form POSTs to /language)."""
    code = ctx.request.path_params["code"]
    if code in LANGUAGES and ctx.user is None:
        ctx.session = ctx.session.with_lang(code)
        ctx.send_session = True
    return ctx.redirect("/")


def _local_path(value: str) -> str:
    """`value` when it is a path of this site ("/partners/osaka"), else "/": a form's
    return address never leads to another site."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@page(None)
def choose_language(ctx: Ctx) -> Response:
    """POST /language (`language`: th | en, `next`: the page to go back to): signed in, store
    it on the account (audited), effective from the next page on; signed out, keep it in the
    session. A language that is not th or en changes nothing (400)."""
    code = ctx.field("language")
    if code not in LANGUAGES:
        return ctx.refuse(400, "problem", "bad_language")
    if ctx.user is not None:
        set_language(ctx.state.db, ctx.user.email, code, by=ctx.actor)
    else:
        ctx.session = ctx.session.with_lang(code)
        ctx.send_session = True
    return ctx.redirect(_local_path(ctx.field("next")))


@page(None)
def not_found(ctx: Ctx) -> Response:
    """A path no route serves: the 404 page in the reader's language."""
    return ctx.refuse(404, "not_found", "not_found_text")


@page(Role.ADMIN)
def accounts(ctx: Ctx) -> Response:
    """The accounts, with forms to add and remove one."""
    return _accounts_page(ctx)


def _accounts_page(ctx: Ctx, status: int = 200, *, error: str = "",
                   values: dict[str, str] | None = None) -> Response:
    return ctx.render("accounts.html", status, rows=list_users(ctx.state.db), error=error,
                      values=values or {}, roles=[r.value for r in Role], languages=LANGUAGES)


_ACCOUNT_FIELDS = {"EMAIL": "email", "--name": "name", "--role": "role",
                   "--language": "language", "password": "password"}


@page(Role.ADMIN)
def add_account(ctx: Ctx) -> Response:
    """POST: add an account (email, name, role, language, password)."""
    password = ctx.form.get("password") if ctx.form is not None else None
    try:
        add_user(ctx.state.db, ctx.field("email"), name=ctx.field("name"),
                 password=password if isinstance(password, str) else "",
                 role=ctx.field("role") or "staff", language=ctx.field("language") or "th",
                 by=ctx.actor)
    except UserError as exc:
        values = {k: ctx.field(k) for k in ("email", "name", "role", "language")}
        return _accounts_page(ctx, 400, error=problem_text(ctx, exc.message, _ACCOUNT_FIELDS),
                              values=values)
    return ctx.redirect("/accounts")


@page(Role.ADMIN)
def remove_account(ctx: Ctx) -> Response:
    """POST: remove an account (not one's own: an office must keep an admin)."""
    email = ctx.field("email")
    assert ctx.user is not None
    if normal_email(email) == ctx.user.email:
        return _accounts_page(ctx, 400, error=f"{ctx.t('email')}: {email}: your own account")
    try:
        remove_user(ctx.state.db, email, by=ctx.actor)
    except UserError as exc:
        return _accounts_page(ctx, 400, error=exc.message)
    return ctx.redirect("/accounts")
