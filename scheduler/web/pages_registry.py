"""Registry pages: the dashboard, partners and one partner with its forms (record an activity,
correct or remove an agreement, remove an activity, end the relation). The lists of contacts,
working groups, budget deadlines and meetings and their forms are in pages_lists.

Every change goes through scheduler.services.partners, audited as the signed-in account. Bad
input shows the partner page again with status 400 and a message naming the field; nothing is
changed then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from scheduler.dates.thaidate import parse_date
from scheduler.errors import UserError
from scheduler.registry.domain import AgreementKind
from scheduler.services.partners import (
    AgreementCorrection,
    RecordKind,
    correct_agreement,
    end_relation,
    list_partners,
    partner_detail,
    record_activity,
    remove_record,
)
from scheduler.services.users import Role
from scheduler.web.core import Ctx, page, problem_text
from scheduler.web.dashboard import dashboard

# Which form field a service's message is about ("--date: …" → the Date field).
FIELD_LABELS = {"--date": "date", "--title": "title", "--kind": "kind", "--reason": "reason",
                "expires_on": "expires_on", "signed_on": "signed_on",
                "local_party": "local_party", "notes": "notes"}


class FieldError(Exception):
    """A form field that cannot be read: its label key and why."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(reason)
        self.label = label
        self.reason = reason


def read_date(ctx: Ctx, name: str, *, required: bool = True) -> dt.date | None:
    """A date field: YYYY-MM-DD (a year ≥ 2400 read as Buddhist Era) or the Thai forms the
    CLI accepts (SPEC "Commands"). FieldError when required and empty, or unreadable."""
    value = ctx.field(name)
    if not value:
        if required:
            raise FieldError(name, ctx.t("field_required"))
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise FieldError(name, str(exc)) from None


def dashboard_page(ctx: Ctx) -> Response:
    """The dashboard, for a signed-in account (`/` shows the sign-in form otherwise: see
    scheduler.web.pages_auth.root, which guards it)."""
    board = dashboard(ctx.state.runner, ctx.today)
    return ctx.render("dashboard.html", board=board)


PAGE_SIZE = 100  # partners per page of the list


@page(Role.VIEWER)
def partners(ctx: Ctx) -> Response:
    """The partners with their group, agreements, last activity and dormancy, PAGE_SIZE a
    page (`?page=N`, from 1)."""
    rows = list_partners(ctx.state.db, as_of=ctx.today,
                         dormant_after_days=ctx.state.settings.jobs.dormant_after_days)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    raw = ctx.request.query_params.get("page", "1")
    number = min(max(int(raw), 1), pages) if raw.isdigit() else 1
    shown = rows[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    return ctx.render("partners.html", partners=shown, page_number=number, pages=pages,
                      total=len(rows))


def _partner_page(ctx: Ctx, partner_id: str, status: int = 200, *,
                  error: str = "", notice: str = "", values: dict[str, str] | None = None,
                  ) -> Response:
    try:
        detail = partner_detail(ctx.state.db, partner_id, as_of=ctx.today,
                                dormant_after_days=ctx.state.settings.jobs.dormant_after_days)
    except UserError:
        return ctx.refuse(404, "not_found", "not_found")
    return ctx.render("partner.html", status, d=detail, p=detail.summary, error=error,
                      notice=notice, values=values or {},
                      kinds=[k.value for k in AgreementKind])


@page(Role.VIEWER)
def partner(ctx: Ctx) -> Response:
    """One partner: group, route, agreements, activities and the forms."""
    done = ctx.request.query_params.get("done", "")
    notice = ctx.t(done) if done in ("recorded", "already_recorded", "removed", "corrected",
                                     "nothing_changed", "ended") else ""
    return _partner_page(ctx, ctx.request.path_params["partner"], notice=notice)


def _change(ctx: Ctx, action: Any) -> Response:
    """Run `action` (which returns the `done` notice key); on bad input, the partner page
    again with 400 and the message naming the field, the form's values kept."""
    pid = ctx.request.path_params["partner"]
    try:
        done = action()
    except FieldError as exc:
        message = f"{ctx.t(exc.label)}: {exc.reason}"
    except UserError as exc:
        message = problem_text(ctx, exc.message, FIELD_LABELS)
    else:
        return ctx.redirect(f"/partners/{pid}?done={done}")
    values = {k: v for k, v in (ctx.form or {}).items() if isinstance(v, str) and k != "csrf"}
    return _partner_page(ctx, pid, 400, error=message, values=values)


@page(Role.STAFF)
def add_activity(ctx: Ctx) -> Response:
    """POST the activity form: Date, Title, optional Kind."""

    def act() -> str:
        day = read_date(ctx, "date")
        assert day is not None
        title = ctx.field("title")
        if not title:
            raise FieldError("title", ctx.t("field_required"))
        done = record_activity(ctx.state.db, ctx.request.path_params["partner"], day=day,
                               title=title, kind=ctx.field("kind") or "other", by=ctx.actor,
                               today=ctx.today)
        return "recorded" if done.created else "already_recorded"

    return _change(ctx, act)


@page(Role.STAFF)
def remove(ctx: Ctx) -> Response:
    """POST: remove one agreement or activity entered by mistake."""
    if ctx.request.path_params["kind"] not in tuple(RecordKind):
        return ctx.refuse(404, "not_found", "not_found")
    kind = RecordKind(ctx.request.path_params["kind"])

    def act() -> str:
        remove_record(ctx.state.db, kind, ctx.request.path_params["partner"],
                      ctx.request.path_params["ref"], by=ctx.actor)
        return "removed"

    return _change(ctx, act)


@page(Role.STAFF)
def correct(ctx: Ctx) -> Response:
    """POST: correct an agreement (kind, signing date, signed by, expiry, notes); empty fields
    stay as they are."""

    def act() -> str:
        kind = ctx.field("kind")
        if kind and kind not in tuple(AgreementKind):
            raise FieldError("kind", f'"{kind}" is not one of {", ".join(AgreementKind)}')
        correction = AgreementCorrection(
            kind=AgreementKind(kind) if kind else None,
            signed_on=read_date(ctx, "signed_on", required=False),
            local_party=ctx.field("local_party") or None,
            expires_on=read_date(ctx, "expires_on", required=False),
            notes=ctx.field("notes") or None,
        )
        done = correct_agreement(ctx.state.db, ctx.request.path_params["partner"],
                                 ctx.request.path_params["ref"], correction, by=ctx.actor)
        return "corrected" if done.changes else "nothing_changed"

    return _change(ctx, act)


@page(Role.STAFF)
def end(ctx: Ctx) -> Response:
    """POST: the relation ended on a date, for a reason."""

    def act() -> str:
        day = read_date(ctx, "end_on")
        assert day is not None
        end_relation(ctx.state.db, ctx.request.path_params["partner"], on=day,
                     reason=ctx.field("reason"), by=ctx.actor)
        return "ended"

    return _change(ctx, act)
