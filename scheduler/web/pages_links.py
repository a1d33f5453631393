"""Pages reached from the links in emails (SPEC "The way back", "Calendar feed"): a working
group's calendar feed at its secret URL.

The feed URL (`/feed/{token}.ics`, token from scheduler.links.LinkSigner.feed_token) needs no
sign-in: the token is the secret. It serves the same bytes as `sistercity calendar FILE.ics
--group ID` would write as of today (scheduler.services.calendar, 12 months), as
`text/calendar`; a token that is not genuine, or names a group the registry no longer has,
gets the 404 page. No session cookie is started for it (calendar programs keep none) and no
shared cache may keep it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from scheduler.errors import UserError
from scheduler.links import LinkError, LinkSigner
from scheduler.services.calendar import calendar_feed, feed_scope
from scheduler.web.core import SECURITY_HEADERS, Ctx, WebState
from scheduler.web.i18n import pick_language
from scheduler.web.session import Session

FEED_MONTHS = 12  # as `sistercity calendar` without --months
FEED_MEDIA_TYPE = "text/calendar; charset=utf-8"


def _signer(request: Request) -> LinkSigner:
    signer: LinkSigner = request.app.state.links
    return signer


def _visitor(state: WebState, request: Request) -> Ctx:
    """A request context with a throw-away signed-out session (never sent back)."""
    now = state.clock()
    lang = pick_language(request.headers.get("accept-language"))
    return Ctx(state, request, Session.fresh(now, lang), None, now)


def _feed(state: WebState, request: Request) -> Response:
    ctx = _visitor(state, request)
    token = str(request.path_params["token"])
    try:
        group = _signer(request).read_feed(token)
        scope = feed_scope(state.settings, start=ctx.today, months=FEED_MONTHS, group=group,
                           now=ctx.now)
        feed = calendar_feed(state.db, state.settings, scope)
    except (LinkError, UserError):
        return ctx.refuse(404, "not_found", "feed_not_found")
    return Response(feed.data, media_type=FEED_MEDIA_TYPE, headers={
        "Content-Disposition": f'inline; filename="{group}.ics"',
        "Cache-Control": "private, no-store"})


async def feed(request: Request) -> Response:
    """GET /feed/{token}.ics: the group's calendar feed (METHOD:PUBLISH, 12 months from today
    in scheduler.timezone), or the 404 page for a token that is not genuine or an unknown
    group. Read-only; no sign-in; `Cache-Control: private, no-store`."""
    state: WebState = request.app.state.web
    response = await run_in_threadpool(_feed, state, request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
