"""Signing in and out, the language of the signed-out pages, and (for admins) the accounts.

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
    if limiter.blocked(keys, ctx.now):
        return login_form(ctx, 429, error=ctx.t("too_many"), email=email)
    password = ctx.form.get("password") if ctx.form is not None else None
    account = (authenticate(ctx.state.db, email, password)
               if email and isinstance(password, str) and password else None)
    if account is None:
        limiter.fail(keys, ctx.now)
        return login_form(ctx, 401, error=ctx.t("wrong_password"), email=email)
    limiter.clear(f"email:{email}")
    ctx.session = ctx.session.signed_in(account.email, ctx.now)
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
    """GET /lang/th or /lang/en: the language of the signed-out pages (an account's language
    is its own)."""
    code = ctx.request.path_params["code"]
    if code in LANGUAGES:
        ctx.session = ctx.session.with_lang(code)
        ctx.send_session = True
    return ctx.redirect("/")


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
