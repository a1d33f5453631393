"""The ASGI app of `sistercity web` (SPEC "The office web app"): routes to the pages.

`create_app(settings, db, secret=…)` builds it; tests pass a `clock`. Every route goes through
the guard of scheduler.web.core (session, CSRF, role). The stylesheet is served from
templates/web/app.css; there is no JavaScript.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from scheduler.config import Settings, bundled_path
from scheduler.db.database import Database
from scheduler.links import LinkSigner
from scheduler.services.runs import Runner
from scheduler.web import pages_auth as auth
from scheduler.web import pages_links as links
from scheduler.web import pages_lists as lists
from scheduler.web import pages_office as office
from scheduler.web import pages_registry as reg
from scheduler.web.core import SECURITY_HEADERS, WebState
from scheduler.web.session import SessionCodec


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def stylesheet(request: Request) -> Response:
    """templates/web/app.css (read once)."""
    css: str = request.app.state.css
    return Response(css, media_type="text/css",
                    headers={"Cache-Control": "max-age=3600",
                             "X-Content-Type-Options": "nosniff"})


async def _http_error(request: Request, exc: Exception) -> Response:
    """404 from routing: the error page in the reader's language (scheduler.web.pages_auth
    .not_found); 405 and others: a short plain page, with the security headers."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404 and request.method in ("GET", "HEAD"):
        return await auth.not_found(request)
    return PlainTextResponse(f"{status}", status_code=status, headers=SECURITY_HEADERS)


ROUTES = [
    Route("/", auth.root, methods=["GET"]),
    Route("/login", auth.login, methods=["GET", "POST"]),
    Route("/logout", auth.logout, methods=["POST"]),
    Route("/lang/{code}", auth.language, methods=["GET"]),
    Route("/app.css", stylesheet, methods=["GET"]),
    Route("/partners", reg.partners, methods=["GET"]),
    Route("/partners/{partner}", reg.partner, methods=["GET"]),
    Route("/partners/{partner}/activities", reg.add_activity, methods=["POST"]),
    Route("/partners/{partner}/{kind:str}/{ref}/remove", reg.remove, methods=["POST"]),
    Route("/partners/{partner}/agreement/{ref}", reg.correct, methods=["POST"]),
    Route("/partners/{partner}/end", reg.end, methods=["POST"]),
    Route("/outbox", office.outbox, methods=["GET"]),
    Route("/outbox/retry", office.retry, methods=["POST"]),
    Route("/outbox/{id}", office.message, methods=["GET"]),
    Route("/jobs", office.jobs_page, methods=["GET"]),
    Route("/jobs/run", office.run_job, methods=["POST"]),
    Route("/import", office.import_page, methods=["GET"]),
    Route("/import", office.import_upload_page, methods=["POST"]),
    Route("/import/confirm", office.import_confirm, methods=["POST"]),
    Route("/export", office.export, methods=["GET"]),
    Route("/audit", office.audit, methods=["GET"]),
    Route("/accounts", auth.accounts, methods=["GET"]),
    Route("/accounts", auth.add_account, methods=["POST"]),
    Route("/accounts/remove", auth.remove_account, methods=["POST"]),
    # --- registry lists and their forms (issue 16: contacts, groups, deadlines, meetings) ---
    Route("/contacts", lists.registry_lists, methods=["GET"]),
    Route("/groups", lists.registry_lists, methods=["GET"]),
    Route("/deadlines", lists.registry_lists, methods=["GET"]),
    Route("/meetings", lists.registry_lists, methods=["GET"]),
    Route("/meetings/{meeting}/cancel", lists.cancel, methods=["POST"]),
    Route("/contacts/add", lists.add_form, methods=["GET", "POST"]),
    Route("/groups/add", lists.add_form, methods=["GET", "POST"]),
    Route("/deadlines/add", lists.add_form, methods=["GET", "POST"]),
    Route("/contacts/{ident}/edit", lists.edit_form, methods=["GET", "POST"]),
    Route("/groups/{ident}/edit", lists.edit_form, methods=["GET", "POST"]),
    Route("/deadlines/{ident}/edit", lists.edit_form, methods=["GET", "POST"]),
    Route("/meetings/{ident}/edit", lists.edit_form, methods=["GET", "POST"]),
    Route("/contacts/{ident}/remove", lists.remove, methods=["POST"]),
    # --- issue 16 review: the language of a signed-in account; an email on its own page ---
    Route("/language", auth.choose_language, methods=["POST"]),
    Route("/outbox/{id}/html", office.message_html, methods=["GET"]),
    # --- the way back (issue 17): links in emails, the group feed, acknowledgements ---
    Route("/feed/{token}.ics", links.feed, methods=["GET"]),
    Route("/act/{token}", links.act, methods=["GET"]),
    Route("/act/{token}", links.act_post, methods=["POST"]),
    Route("/acknowledgements", links.acknowledgements_page, methods=["GET"]),
]


def create_app(settings: Settings, db: Database, *, secret: str,
               clock: Callable[[], dt.datetime] = _utc_now) -> Starlette:
    """The web app over `db` with `settings`; `secret` signs the session cookies (from the
    variable `web.secret_env` names) and reads the links in emails; `clock` gives now (aware
    UTC). The cookie is `Secure` when `web.base_url` is https."""
    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: _http_error})
    app.state.web = WebState(settings=settings, db=db,
                             codec=SessionCodec(secret, secure=settings.web.secure),
                             clock=clock, runner=Runner(db, settings, secret=secret))
    app.state.links = LinkSigner(secret)  # action links and feed URLs (scheduler.links)
    app.state.css = bundled_path("web", "app.css").read_text(encoding="utf-8")
    return app
