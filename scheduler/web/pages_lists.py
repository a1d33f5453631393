"""The registry's lists (contacts, working groups, budget deadlines, meetings) and their forms:
add and edit each (a contact also removed when nothing names it), cancel a meeting (SPEC "The
office web app": forms to edit contacts, groups, deadlines and meetings, including cancelling
one).

Every change goes through scheduler.services.registry_edit (or .meetings for a cancellation),
which reads the form's record exactly as a dataset file's and writes it with an audit entry as
the signed-in account. Bad input shows the form again with status 400, the typed values, and
a message naming each field refused; nothing is changed then. Viewers see the lists only (the
guard answers 403 to their POSTs and form pages).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from scheduler.errors import UserError
from scheduler.planning import occurrences
from scheduler.registry.domain import Registry
from scheduler.registry.domain import Role as ContactRole
from scheduler.services.meetings import cancel_meeting
from scheduler.services.registry_edit import (
    ContactFields,
    DeadlineFields,
    FormProblems,
    GroupFields,
    MeetingFields,
    Saved,
    edit_meeting,
    remove_contact,
    save_contact,
    save_deadline,
    save_group,
)
from scheduler.services.users import Role
from scheduler.web.core import Ctx, page
from scheduler.web.pages_registry import FieldError, read_date

# The form field a problem of the dataset reader is about, per list (the key as the dataset
# file names it → the form's field); the label of a field is its i18n key "f_<field>".
FORM_FIELD = {"dtstart": "due_on", "rrule": "rrule"}
MEETING_FIELD = {"dtstart": "start_date", "starts_at": "start_date", "rrule": "start_date"}
_TIME = re.compile(r"^([01]?[0-9]|2[0-3])[:.]([0-5][0-9])$")
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Form:
    """One form page's state: which list, the record's id (None: a new one), the values
    shown, and the problems as {field: text} ("" for the record as a whole)."""

    what: str
    ident: str | None
    values: Mapping[str, Any]
    problems: Mapping[str, str]


@page(Role.VIEWER)
def registry_lists(ctx: Ctx) -> Response:
    """The list of contacts, working groups, budget deadlines or meetings (which one: the
    path), with the next occurrence of each deadline and meeting and, for staff, links to
    their forms."""
    done = ctx.request.query_params.get("done", "")
    notice = ctx.t(done) if done in ("cancelled", "rec_saved", "rec_added", "nothing_changed",
                                     "removed") else ""
    return registry_page(ctx, ctx.request.url.path.strip("/"), notice=notice)


def registry_page(ctx: Ctx, what: str, status: int = 200, *, error: str = "",
                  notice: str = "") -> Response:
    """The list of `what` (contacts, groups, deadlines, meetings), with a message."""
    registry = ctx.state.cache.registry(ctx.key)
    horizon = ctx.today + dt.timedelta(days=366)

    def next_of(item: Any) -> dt.datetime | None:
        try:
            found = occurrences(item.recurrence, ctx.today, horizon)
        except ValueError:
            return None
        return found[0] if found else None

    items: list[Any]
    if what == "contacts":
        items = sorted(registry.contacts.values(), key=lambda c: c.name.casefold())
    elif what == "groups":
        items = list(registry.working_groups.values())
    elif what == "deadlines":
        items = [(d, next_of(d)) for d in registry.budget_deadlines.values()]
    else:
        items = [(m, next_of(m)) for m in registry.meetings.values()]
    return ctx.render("lists.html", status, what=what, items=items,
                      contacts=registry.contacts, groups=registry.working_groups,
                      error=error, notice=notice,
                      rule_words=lambda rule: _word(ctx, "rr_", rule))


@page(Role.STAFF)
def cancel(ctx: Ctx) -> Response:
    """POST: cancel a meeting, or only the occurrence on the date given (SPEC `meeting
    cancel`, through scheduler.services.meetings): everyone invited gets a cancellation at
    the next meeting-agendas run."""
    meeting = ctx.request.path_params["meeting"]
    try:
        day = read_date(ctx, "occurrence", required=False)
        if day is None and ctx.field("every") != "yes":  # one click must not end a series
            return registry_page(ctx, "meetings", 400,
                                 error=f"{ctx.t('occurrence')}: {ctx.t('cancel_which')}")
        cancel_meeting(ctx.state.db, meeting, occurrence=day, by=ctx.actor)
    except FieldError as exc:
        return registry_page(ctx, "meetings", 400, error=f"{ctx.t(exc.label)}: {exc.reason}")
    except UserError as exc:
        return registry_page(ctx, "meetings", 400, error=exc.message)
    return ctx.redirect("/meetings?done=cancelled")


# -- the form pages


def _what(ctx: Ctx) -> str:
    return ctx.request.url.path.strip("/").split("/")[0]


@page(Role.STAFF)
def add_form(ctx: Ctx) -> Response:
    """GET: the empty form for a new contact, group or deadline; POST: add it."""
    what = _what(ctx)
    if ctx.request.method == "GET":
        defaults = {"language": "th", "role": ContactRole.STAFF.value} if what == "contacts" \
            else {}
        return _form_page(ctx, Form(what, None, defaults, {}))
    return _submit(ctx, what, None)


@page(Role.STAFF)
def edit_form(ctx: Ctx) -> Response:
    """GET: the form of one contact, group, deadline or meeting, filled with what is stored;
    POST: save it."""
    what, ident = _what(ctx), ctx.request.path_params["ident"]
    if ctx.request.method == "POST":
        return _submit(ctx, what, ident)
    values = _stored_values(ctx.state.cache.registry(ctx.key), what, ident)
    if values is None:
        return ctx.refuse(404, "not_found", "not_found")
    return _form_page(ctx, Form(what, ident, values, {}))


@page(Role.STAFF)
def remove(ctx: Ctx) -> Response:
    """POST: remove a contact that nothing names (else its form again, 409, saying what names
    it)."""
    ident = ctx.request.path_params["ident"]
    try:
        remove_contact(ctx.state.db, ident, by=ctx.actor)
    except UserError as exc:
        values = _stored_values(ctx.state.cache.registry(ctx.key), "contacts", ident)
        if values is None:
            return ctx.refuse(404, "not_found", "not_found")
        return _form_page(ctx, Form("contacts", ident, values, {"": exc.message}), 409)
    return ctx.redirect("/contacts?done=removed")


def _submit(ctx: Ctx, what: str, ident: str | None) -> Response:
    values: dict[str, Any] = {k: v for k, v in (ctx.form or {}).items()
                              if isinstance(v, str) and k != "csrf"}
    values["working_groups"] = [v for v in (ctx.form.getlist("working_groups")
                                            if ctx.form else []) if isinstance(v, str)]
    try:
        saved = SAVE[what](ctx, ident)
    except FieldError as exc:
        problems = {exc.label: exc.reason}
    except FormProblems as exc:
        fields = MEETING_FIELD if what == "meetings" else FORM_FIELD
        problems = {}
        for key, text in exc.problems:
            if key.startswith("change["):  # a stored moved/cancelled occurrence left behind
                key, text = "start_date", f"{ctx.t('kept_change')}: {text}"
            problems.setdefault(fields.get(key, key), text)
    except UserError as exc:  # the record is gone (removed meanwhile)
        problems = {"": exc.message}
    else:
        done = ("rec_added" if saved.created
                else "rec_saved" if saved.changes else "nothing_changed")
        return ctx.redirect(f"/{what}?done={done}#item-{saved.id}")
    if ident is not None and "id" not in values:
        values["id"] = ident
    return _form_page(ctx, Form(what, ident, values, problems), 400)


def _form_page(ctx: Ctx, form: Form, status: int = 200) -> Response:
    registry = ctx.state.cache.registry(ctx.key)
    labels = {key: _label(ctx, key) for key in form.problems}
    summary = [f"{labels[k]}: {text}" if k else text for k, text in form.problems.items()]
    meeting = registry.meetings.get(form.ident or "") if form.what == "meetings" else None
    contacts = sorted(registry.contacts.values(), key=lambda c: c.name.casefold())
    return ctx.render("registry_form.html", status, form=form, v=form.values,
                      problems=form.problems, summary=summary,
                      groups=list(registry.working_groups.values()),
                      role_options=[(r.value, role_name(ctx, r.value)) for r in ContactRole],
                      lead_options=[(c.id, f"{c.name} ({c.id})") for c in contacts],
                      recurring=bool(meeting and meeting.recurrence.rrule))


def role_name(ctx: Ctx, role: str) -> str:
    """A contact's role in the page language ("lead" → "Group lead"; i18n key `contact_<role>`,
    as the templates' `word("contact", role)`); the value itself for a role without a word."""
    return _word(ctx, "contact_", role)


def _word(ctx: Ctx, prefix: str, value: str) -> str:
    """The word for `prefix + value` in the page language, else `value` itself."""
    word = ctx.t(prefix + value)
    return value if word == prefix + value else word


def _label(ctx: Ctx, field: str) -> str:
    return _word(ctx, "f_", field)


# -- reading each form into the service's fields


def _text(ctx: Ctx, name: str) -> str:
    return ctx.field(name)


def _ids(ctx: Ctx, name: str) -> tuple[str, ...]:
    """A list field: repeated values (check boxes) or one text split at commas and spaces."""
    found: list[str] = []
    for value in ctx.form.getlist(name) if ctx.form else []:
        if isinstance(value, str):
            found.extend(v for v in _SPLIT.split(value.strip()) if v)
    return tuple(found)


def _save_contact(ctx: Ctx, ident: str | None) -> Saved:
    fields = ContactFields(id=ident or _text(ctx, "id"), name=_text(ctx, "name"),
                           email=_text(ctx, "email"), language=_text(ctx, "language"),
                           role=_text(ctx, "role"))
    return save_contact(ctx.state.db, fields, by=ctx.actor, new=ident is None)


def _save_group(ctx: Ctx, ident: str | None) -> Saved:
    fields = GroupFields(id=ident or _text(ctx, "id"), name=_text(ctx, "name"),
                         name_th=_text(ctx, "name_th"), lead=_text(ctx, "lead"),
                         countries=tuple(c.upper() for c in _ids(ctx, "countries")))
    return save_group(ctx.state.db, fields, by=ctx.actor, new=ident is None)


def _save_deadline(ctx: Ctx, ident: str | None) -> Saved:
    fields = DeadlineFields(
        id=ident or _text(ctx, "id"), title=_text(ctx, "title"), title_th=_text(ctx, "title_th"),
        due_on=read_date(ctx, "due_on", required=False), rrule=_text(ctx, "rrule"),
        working_groups=_ids(ctx, "working_groups"), notes=_text(ctx, "notes"),
        notes_th=_text(ctx, "notes_th"))
    return save_deadline(ctx.state.db, fields, by=ctx.actor, new=ident is None)


def _save_meeting(ctx: Ctx, ident: str | None) -> Saved:
    assert ident is not None  # meetings are edited, not added, here
    day = read_date(ctx, "start_date", required=False)
    time = _TIME.match(_text(ctx, "start_time"))
    if not time:
        raise FieldError("start_time", ctx.t("time_expected"))
    duration = _text(ctx, "duration_minutes")
    if not duration.isdigit():
        raise FieldError("duration_minutes", ctx.t("whole_minutes"))
    starts_at = (dt.datetime.combine(day, dt.time(int(time.group(1)), int(time.group(2))))
                 if day else None)
    fields = MeetingFields(
        title=_text(ctx, "title"), title_th=_text(ctx, "title_th"), starts_at=starts_at,
        duration_minutes=int(duration), location=_text(ctx, "location"),
        location_th=_text(ctx, "location_th"), working_groups=_ids(ctx, "working_groups"),
        invite_consulates=ctx.field("invite_consulates") == "yes")
    return edit_meeting(ctx.state.db, ident, fields, by=ctx.actor)


SAVE: dict[str, Callable[[Ctx, str | None], Saved]] = {
    "contacts": _save_contact, "groups": _save_group, "deadlines": _save_deadline,
    "meetings": _save_meeting,
}


def _stored_values(registry: Registry, what: str, ident: str) -> dict[str, Any] | None:
    """The form's values of a stored record (None: there is none by that id)."""
    if what == "contacts" and ident in registry.contacts:
        c = registry.contacts[ident]
        return {"id": c.id, "name": c.name, "email": c.email, "language": c.language,
                "role": c.role.value}
    if what == "groups" and ident in registry.working_groups:
        g = registry.working_groups[ident]
        return {"id": g.id, "name": g.name, "name_th": g.name_th, "lead": g.lead or "",
                "countries": ", ".join(g.countries)}
    if what == "deadlines" and ident in registry.budget_deadlines:
        d = registry.budget_deadlines[ident]
        return {"id": d.id, "title": d.title, "title_th": d.title_th,
                "due_on": d.recurrence.dtstart.date().isoformat(), "rrule": d.recurrence.rrule,
                "working_groups": list(d.working_groups), "notes": d.notes,
                "notes_th": d.notes_th}
    if what == "meetings" and ident in registry.meetings:
        m = registry.meetings[ident]
        start = m.recurrence.dtstart
        return {"id": m.id, "title": m.title, "title_th": m.title_th,
                "start_date": start.date().isoformat(), "start_time": start.strftime("%H:%M"),
                "duration_minutes": str(m.duration_minutes), "location": m.location,
                "location_th": m.location_th, "working_groups": list(m.working_groups),
                "invite_consulates": "yes" if m.invite_consulates else ""}
    return None

