"""Pages reached from the links in emails (SPEC "The way back", "Calendar feed"): the action
page of a signed link, a working group's calendar feed at its secret URL, and the staff's
list of what readers did with their links.

`/act/{token}` (token from scheduler.links.LinkSigner.action_token) needs no sign-in: the
signed token says who acts (the email's recipient), on what and how. GET only shows the item
and one form whose button POSTs (mail scanners and link checkers follow GET links, so a GET
never changes anything); the POST carries the session's CSRF token like every form of the app
(the guard starts a signed-out session for every visitor) and acts through
scheduler.services.actions.perform, which writes the audit entry naming the recipient. The
page is in the recipient's language. A token that is not genuine gets the 400 page, one older
than 60 days the 410 page, an item no longer in the registry the 404 page, on GET and POST,
and nothing changes then; a bad form field shows the form again (400) with a message naming
the field.

The feed URL (`/feed/{token}.ics`, token from scheduler.links.LinkSigner.feed_token) needs no
sign-in: the token is the secret. It serves the same bytes as `sistercity calendar FILE.ics
--group ID` would write as of today (scheduler.services.calendar, 12 months), as
`text/calendar`; a token that is not genuine, or names a group the registry no longer has,
gets the 404 page. No session cookie is started for it (calendar programs keep none) and no
shared cache may keep it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from scheduler.dates.thaidate import format_date
from scheduler.errors import UserError
from scheduler.links import ActionClaim, LinkAction, LinkError, LinkExpired, LinkSigner
from scheduler.registry.domain import Registry
from scheduler.services.actions import (
    ActionView,
    acknowledgements,
    describe,
    item_name,
    perform,
)
from scheduler.services.calendar import calendar_feed, feed_scope
from scheduler.services.escalation import escalations
from scheduler.services.partners import RecordView, partner_detail
from scheduler.services.users import Role
from scheduler.web.core import SECURITY_HEADERS, Ctx, WebState, page, problem_text
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


# ---- /act/{token} ---------------------------------------------------------------------------

# The form field a service message is about ("date: …" → the Date field).
ACT_FIELDS = {"date": "date", "title": "title", "kind": "kind"}
# The button of each action (SPEC "The way back": Record, Snooze, No action, Done).
BUTTONS = {LinkAction.RECORD: "record", LinkAction.SNOOZE: "snooze",
           LinkAction.NO_ACTION: "no_action", LinkAction.DONE: "done"}


@dataclass
class ReaderCtx(Ctx):
    """A request context whose pages are in the link's recipient's language, whoever (if
    anyone) is signed in."""

    reader_lang: str = "en"

    @property
    def lang(self) -> str:
        return self.reader_lang


def _as_reader(ctx: Ctx, language: str) -> ReaderCtx:
    values = {f.name: getattr(ctx, f.name) for f in fields(Ctx)}
    return ReaderCtx(**values, reader_lang=language)


class _Refused(Exception):
    """A link that cannot be used: the page to show (status, title key, text key)."""

    def __init__(self, status: int, title: str, text: str, lang: str | None = None) -> None:
        super().__init__(title)
        self.status, self.title, self.text, self.lang = status, title, text, lang

    def page(self, ctx: Ctx) -> Response:
        """The refusal, in the link's reader's language when the link says who that is."""
        return (_as_reader(ctx, self.lang) if self.lang else ctx).refuse(
            self.status, self.title, self.text)


def _registry(ctx: Ctx) -> Registry:
    """The registry as stored at this request, from the page cache (read once per change,
    not on every link opened: seconds at 10,000 partners)."""
    return ctx.state.cache.registry(ctx.key)


def _open(ctx: Ctx) -> tuple[str, ActionView]:
    """The token of the request and what its page shows; _Refused when the token is not
    genuine (400), expired (410) or names an item no longer there (404)."""
    token = str(ctx.request.path_params["token"])
    signer: LinkSigner = ctx.request.app.state.links
    try:
        claim: ActionClaim = signer.read_action(token, now=ctx.now)
    except LinkExpired as expired:
        try:  # a genuine link names its reader: tell them in their language
            lang: str | None = describe(ctx.state.db, ctx.state.settings, expired.claim,
                                        now=ctx.now, registry=_registry(ctx)).language
        except UserError:
            lang = None
        raise _Refused(410, "link_expired", "link_expired_text", lang) from None
    except LinkError:
        raise _Refused(400, "link_tampered", "link_tampered_text") from None
    try:
        view = describe(ctx.state.db, ctx.state.settings, claim, now=ctx.now,
                        registry=_registry(ctx))
    except UserError:
        raise _Refused(404, "not_found", "item_gone") from None
    return token, view


def _activity(ctx: Ctx, view: ActionView) -> RecordView | None:
    """The activity a RECORD made, as the partner page lists it (None when gone)."""
    done = view.done
    if done is None or done.activity_id is None or view.partner_id is None:
        return None
    try:
        detail = partner_detail(ctx.state.db, view.partner_id, as_of=ctx.today,
                                dormant_after_days=ctx.state.settings.jobs.dormant_after_days)
    except UserError:
        return None
    return next((a for a in detail.activities if a.id == done.activity_id), None)


def _act_page(ctx: Ctx, token: str, view: ActionView, status: int = 200, *,
              error: str = "", values: dict[str, str] | None = None,
              fresh: bool = False) -> Response:
    reader = _as_reader(ctx, view.language)
    # The date never breaks across lines (no-break spaces), as in the emails.
    heading = reader.t(f"act_{view.kind}").format(
        name=view.name, date=_unbroken(_date(view.date, view.language)))
    action = view.claim.action
    intro = {LinkAction.SNOOZE: "intro_snooze", LinkAction.NO_ACTION: "intro_no_action",
             LinkAction.DONE: "intro_done"}.get(action, f"intro_record_{view.kind}")
    snooze_until = reader.today + dt.timedelta(days=ctx.state.settings.jobs.dormant_repeat_days)
    tz = ctx.state.settings.tz
    return reader.render(
        "act.html", status, v=view, token=token, heading=heading, error=error,
        values=values or {}, fresh=fresh, button=BUTTONS[action], action=action.value,
        intro=reader.t(intro).format(date=_date(snooze_until, view.language)),
        expires=view.claim.expires.astimezone(tz).date(), activity=_activity(ctx, view))


def _unbroken(text: str) -> str:
    """`text` with no-break spaces: a date never breaks across lines."""
    return text.replace(" ", "\u00a0")


def _date(day: dt.date, lang: str) -> str:
    return format_date(day, lang)  # SPEC "Digest": 30 มี.ค. 2561 / 30 Mar 2018


@page(None)
def act(ctx: Ctx) -> Response:
    """GET /act/{token}: the item the link names, who acts, and the one form of the link's
    action (or, when already done, by whom and when). Changes nothing."""
    try:
        token, view = _open(ctx)
    except _Refused as refused:
        return refused.page(ctx)
    fresh = ctx.request.query_params.get("done") == "1" and view.done is not None
    return _act_page(ctx, token, view, fresh=fresh)


@page(None)
def act_post(ctx: Ctx) -> Response:
    """POST /act/{token} (CSRF-checked by the guard): do the link's action once, then 303 to
    its page, which says what was recorded. Already done: that page, nothing changed. A bad
    Date, Title or Kind: the form again, 400, the message naming the field."""
    try:
        token, view = _open(ctx)
    except _Refused as refused:
        return refused.page(ctx)
    if view.done is not None:
        return _act_page(ctx, token, view)
    reader = _as_reader(ctx, view.language)
    values = {k: ctx.field(k) for k in ACT_FIELDS}
    if view.claim.action is LinkAction.RECORD:
        empty = [k for k in ("date", "title") if not values[k]]
        if empty:  # said in the reader's language, before the service's own checks
            return _act_page(ctx, token, view, 400, values=values, error="\n".join(
                f"{reader.t(k)}: {reader.t('field_required')}" for k in empty))
    try:
        perform(ctx.state.db, ctx.state.settings, view.claim, now=ctx.now,
                registry=_registry(ctx),
                date=ctx.field("date"), title=ctx.field("title"), kind=ctx.field("kind"))
    except UserError as exc:
        head = exc.message.partition(": ")[0]
        if head not in ACT_FIELDS:  # the item went away meanwhile
            return ctx.refuse(404, "not_found", "item_gone")
        return _act_page(ctx, token, view, 400, values=values,
                         error=problem_text(reader, exc.message, ACT_FIELDS))
    return ctx.redirect(f"/act/{token}?done=1")


# ---- /acknowledgements -----------------------------------------------------------------------

JOB_KINDS = {"dormant-partners": "dormant", "anniversaries": "anniversary",
             "budget-deadlines": "deadline"}  # a job's items, for the "kind_…" words


@page(Role.VIEWER)
def acknowledgements_page(ctx: Ctx) -> Response:
    """What readers did with their links (acknowledged, snoozed, no action, done: by whom,
    when), newest first, and the items escalated to the heads (who was told, when)."""
    registry = ctx.state.cache.registry(ctx.key)

    def shown(job: str, item: str, occurrence: dt.date, stored: str) -> str:
        # The item's name in the page language, looked up now; the stored (English) name
        # when the item is gone.
        return item_name(registry, job, item, occurrence, ctx.lang) or stored

    return ctx.render("acknowledgements.html", acks=acknowledgements(ctx.state.db),
                      escalations=escalations(ctx.state.db), kinds=JOB_KINDS, nb=_unbroken,
                      shown=shown)
